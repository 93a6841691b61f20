"""Sales laid out by SKU bucket (`forecasting partition`): whole SKUs per bucket by a hash
any tool can compute, and scoring a bucket per part with the same decisions."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.contracts import SALES
from forecasting.data.io import read_table
from forecasting.data.layout import bucket_files, iter_bucket_parts, partition_sales
from forecasting.data.synthetic import SyntheticData, generate_omnichannel
from forecasting.errors import DataContractError, ForecastingError

CLI = [sys.executable, "-m", "forecasting.cli"]
ORDER = ["sku_id", "channel", "ds"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=900)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_every_sku_is_in_the_bucket_its_crc32_names(
    world: SyntheticData, tmp_path: Path, suffix: str
) -> None:
    sales = world.sales.sample(frac=1.0, random_state=1)  # no order to lean on
    src = tmp_path / f"sales{suffix}"
    sales.to_csv(src, index=False) if suffix == ".csv" else sales.to_parquet(src, index=False)
    out = tmp_path / "by_sku"
    done = partition_sales(src, out, buckets=7)
    assert done["buckets"] == 7 and done["rows"] == len(sales)
    assert json.loads((out / "_layout.json").read_text()) == {
        "layout": "sku-buckets", "version": 1, "key": "sku_id", "hash": "crc32", "buckets": 7,
    }  # fmt: skip
    for files in bucket_files(out):
        bucket = int(files[0].parent.name.split("=")[1])
        ids = pd.concat(pd.read_parquet(f) for f in files)["sku_id"].astype(str).unique()
        # the documented rule, computed here without the package
        assert all(zlib.crc32(i.encode()) % 7 == bucket for i in ids)
    parts = list(iter_bucket_parts(out))
    got = pd.concat(parts).sort_values(ORDER).reset_index(drop=True)
    want = read_table(src, SALES).sort_values(ORDER).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["sku_id"].str.startswith("0").all()  # leading zeros kept through CSV


def test_the_folder_appears_whole_or_not_at_all(world: SyntheticData, tmp_path: Path) -> None:
    src = tmp_path / "sales.parquet"
    world.sales.to_parquet(src, index=False)
    out = tmp_path / "by_sku"
    out.mkdir()
    with pytest.raises(ForecastingError, match="exists"):
        partition_sales(src, out)
    bad = tmp_path / "bad.csv"
    bad.write_text("sku_id,channel,ds,y\n001,app,2024-01-01,1\n002,app,2024-01-01\n")
    with pytest.raises(DataContractError):
        partition_sales(bad, tmp_path / "never")
    assert not (tmp_path / "never").exists() and not list(tmp_path.glob(".never.partial-*"))


def test_a_folder_bucketed_some_other_way_fails_in_one_line(
    world: SyntheticData, tmp_path: Path
) -> None:
    folder = tmp_path / "other"
    for b, rows in enumerate([world.sales.iloc[::2], world.sales.iloc[1::2]]):  # SKUs split
        (folder / f"bucket={b:05d}").mkdir(parents=True)
        rows.to_parquet(folder / f"bucket={b:05d}" / "part-0.parquet", index=False)
    with pytest.raises(DataContractError, match="not bucketed by whole SKUs"):
        list(iter_bucket_parts(folder))


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("layout")
    world = generate_omnichannel(n_skus=40, n_days=150, seed=9)
    assert world.transactions is not None
    sales, tx = folder / "sales.csv", folder / "tx.parquet"
    world.sales.to_csv(sales, index=False)
    world.transactions.to_parquet(tx)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    built = _cli("build-predictor", "--transactions", str(tx), "--sales", str(sales),
                 "--horizon", "7", "--tracking-uri", uri)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return uri, sales


@pytest.mark.integration
def test_score_on_a_partitioned_folder_gives_the_file_s_decisions(
    registered: tuple[str, Path], tmp_path: Path
) -> None:
    uri, sales = registered
    folder = tmp_path / "by_sku"
    done = _cli("partition", "--sales", str(sales), "--output", str(folder), "--buckets", "4")
    assert done.returncode == 0 and "4 buckets" in done.stdout, done.stderr[-2000:]
    again = _cli("partition", "--sales", str(sales), "--output", str(folder))
    assert again.returncode != 0 and "exists" in again.stderr and "Traceback" not in again.stderr
    decisions = {}
    for name, source in (("file", sales), ("folder", folder)):
        out = tmp_path / f"{name}.parquet"
        scored = _cli("score", "--model", "models:/elastic-sku-predictor@champion",
                      "--sales", str(source), "--output", str(out), "--jobs", "2",
                      "--tracking-uri", uri)  # fmt: skip
        assert scored.returncode == 0, scored.stderr[-3000:]
        decisions[name] = pd.read_parquet(out)
    pd.testing.assert_frame_equal(decisions["folder"], decisions["file"])
