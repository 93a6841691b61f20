"""The Spark engine in one process (local[2] on 127.0.0.1, UI off): errors and files.
That it gives the pandas engine's results is tested on a real cluster
(tests/test_spark_cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from forecasting import tracking
from forecasting.cli import main
from forecasting.data.synthetic import generate_omnichannel
from forecasting.demand.config import DemandConfig
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig
from forecasting.serving import log_predictor_model

pytest.importorskip("pyspark")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from forecasting.scoring.spark import spark_session

    session = spark_session("local[2]", "forecasting-tests")
    yield session
    session.stop()


@pytest.fixture
def registered(tracking_uri: str, tmp_path: Path) -> dict[str, Path]:
    world = generate_omnichannel(n_skus=30, n_days=200, seed=41)
    assert world.transactions is not None
    cfg = PredictorConfig(demand=DemandConfig(horizon=14, n_windows=2))
    predictor = ElasticSkuPredictor(cfg).fit(world.transactions, world.sales, world.skus)
    # the project's experiment keeps artifacts beside the test's store (not in ./mlruns)
    with tracking.start_run("predictor", "spark-test", tracking_uri=tracking_uri):
        log_predictor_model(predictor, world.sales.head(60), "elastic-sku-predictor")
    paths = {"sales": tmp_path / "sales.parquet", "inv": tmp_path / "inventory.parquet"}
    world.sales.to_parquet(paths["sales"], index=False)
    world.inventory.to_parquet(paths["inv"], index=False)
    return paths


def test_spark_scoring_reports_a_contract_error_in_one_line(
    spark: Any, registered: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = pd.read_parquet(registered["sales"])
    bad.loc[bad.index[5], "y"] = -1.0
    path = tmp_path / "bad.parquet"
    bad.to_parquet(path, index=False)
    out = tmp_path / "out.parquet"
    code = main(
        ["score", "--model", "models:/elastic-sku-predictor/1", "--sales", str(path),
         "--output", str(out), "--engine", "spark", "--spark-master", "local[2]"]
    )  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert "'y' must be >= 0" in err and len(err.splitlines()) == 1
    assert not out.exists()
    # the good file, to an output whose name Spark's reader would take as a glob
    odd = tmp_path / "decisions[2].parquet"
    code = main(
        ["score", "--model", "models:/elastic-sku-predictor/1", "--sales",
         str(registered["sales"]), "--output", str(odd), "--engine", "spark",
         "--spark-master", "local[2]"]
    )  # fmt: skip
    assert code == 0 and len(pd.read_parquet(odd)) == 30


def test_spark_train_demand_cli_writes_parquet_with_spark(
    spark: Any, tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = generate_omnichannel(n_skus=8, n_days=120, seed=44, transactions=False)
    sales = tmp_path / "sales.parquet"
    world.sales.to_parquet(sales, index=False)
    out = tmp_path / "forecast.parquet"
    args = ["train-demand", "--sales", str(sales), "--freq", "D", "--horizon", "7"]
    spark_args = ["--engine", "spark", "--spark-master", "local[2]", "--no-register"]
    assert main([*args, "--n-windows", "2", *spark_args, "--forecast-out", str(out)]) == 0
    assert out.is_dir()  # a Parquet folder written by Spark
    got = pd.read_parquet(out)
    assert len(got) == 7 * world.sales.groupby(["sku_id", "channel"]).ngroups
    assert got["sku_id"].str.len().eq(5).all()
    assert "train-demand:" in capsys.readouterr().out
