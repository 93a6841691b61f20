"""build-predictor and score through a real MLflow registry, with the validation gate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from forecasting import tracking
from forecasting.cli import main
from forecasting.data.synthetic import generate_omnichannel
from forecasting.policy.decide import OUTPUT_COLUMNS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shop")
    world = generate_omnichannel(n_skus=40, n_days=240, seed=31)
    assert world.transactions is not None
    paths = {
        "tx": folder / "tx.parquet",
        "sales": folder / "sales.csv",
        "inv": folder / "inventory.csv",
        "skus": folder / "skus.csv",
    }
    world.transactions.to_parquet(paths["tx"])
    world.sales.to_csv(paths["sales"], index=False)
    world.inventory.to_csv(paths["inv"], index=False)
    world.skus.to_csv(paths["skus"], index=False)
    return paths


def build(files: dict[str, Path], *extra: str) -> int:
    return main(
        [
            "build-predictor",
            "--transactions",
            str(files["tx"]),
            "--sales",
            str(files["sales"]),
            "--inventory",
            str(files["inv"]),
            "--skus",
            str(files["skus"]),
            "--horizon",
            "14",
            *extra,
        ]
    )


def test_build_gate_and_score_from_another_process(
    files: dict[str, Path], tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build(files) == 0
    assert "alias champion -> v1" in capsys.readouterr().out
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    tags = client.get_model_version(tracking.PREDICTOR_MODEL, "1").tags
    assert tags["validation"] == "pass: no champion yet"
    assert float(tags["backtest_rmsse"]) > 0
    # a gate that demands a 50% better cost fails: the champion stays on version 1
    assert build(files, "--tolerance", "-0.5") == 0
    out = capsys.readouterr().out
    assert "gate: fail vs v1" in out
    assert tracking.alias_version(tracking.PREDICTOR_MODEL, "champion") == "1"
    assert (
        client.get_model_version(tracking.PREDICTOR_MODEL, "2")
        .tags["validation"]
        .startswith("fail")
    )
    # a registry consumer in a separate process scores a file in the sales contract
    decisions = tmp_path / "decisions.parquet"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "forecasting.cli",
            "score",
            "--model",
            "models:/elastic-sku-predictor@champion",
            "--sales",
            str(files["sales"]),
            "--inventory",
            str(files["inv"]),
            "--output",
            str(decisions),
            "--chunk-size",
            "15",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
    )
    assert proc.returncode == 0, proc.stderr
    assert "scored 40 / 40 SKUs" in proc.stderr
    got = pd.read_parquet(decisions)
    assert list(got.columns) == OUTPUT_COLUMNS
    assert got["sku_id"].str.len().eq(5).all() and got["sku_id"].is_unique
    assert got["weeks_of_cover"].notna().all()
    loaded = mlflow.pyfunc.load_model("models:/elastic-sku-predictor@champion")
    sales = pd.read_csv(files["sales"], dtype={"sku_id": str})
    cheap = loaded.predict(sales, params={"horizon": 14, "holding_rate": 0.01})
    dear = loaded.predict(sales, params={"horizon": 14, "holding_rate": 2.0})
    assert (dear["stocking"] == "tiered").sum() >= (cheap["stocking"] == "tiered").sum()
    assert dear["expected_cost_unified"].sum() > cheap["expected_cost_unified"].sum()


def test_score_reports_a_missing_model_in_one_line(
    files: dict[str, Path], tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "score",
            "--model",
            "models:/nope@champion",
            "--sales",
            str(files["sales"]),
            "--output",
            str(tmp_path / "d.csv"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot load models:/nope@champion" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d.csv").exists()
