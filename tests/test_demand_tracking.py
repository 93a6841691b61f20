"""train-demand end to end: the MLflow run, the registered model and the CLI output."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from forecasting import tracking
from forecasting.cli import main
from forecasting.data.synthetic import generate_omnichannel
from forecasting.demand.config import DemandConfig
from forecasting.pipelines.demand import train_demand

CFG = DemandConfig(
    horizon=14,
    lgb_n_estimators=60,
    local_models=("AutoETS", "CrostonSBA", "TSB"),
    tsb_grid=((0.1, 0.1),),
)


def test_run_is_logged_and_the_registered_model_predicts_like_memory(tracking_uri: str) -> None:
    world = generate_omnichannel(n_skus=20, n_days=200, seed=4, transactions=False)
    result = train_demand(world.sales, CFG, tracking_uri=tracking_uri)
    run = mlflow.get_run(result.run_id)
    assert run.data.params["demand.horizon"] == "14"
    # the run's duration in the UI is the job's: the fit happened inside it
    assert run.info.end_time - run.info.start_time >= 1000 * result.forecaster.fit_seconds_
    assert 0 < run.data.metrics["backtest_rmsse"] < 2
    assert "backtest_scaled_pinball" in run.data.metrics
    client = mlflow.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {"plots/adi_cv2.png", "plots/forecast_vs_actual.png"}
    tables = {a.path for a in client.list_artifacts(result.run_id, "backtest")}
    assert "backtest/series_metrics.parquet" in tables
    assert result.model_version == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/{tracking.DEMAND_MODEL}/1")
    got = loaded.predict(world.sales, params={"horizon": 14})
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), result.forecast.reset_index(drop=True), check_dtype=False
    )
    assert loaded.metadata.get_input_schema() is not None
    assert loaded.metadata.get_params_schema().params[0].name == "horizon"
    shorter = loaded.predict(world.sales, params={"horizon": 5})
    assert shorter.groupby(["sku_id", "channel"]).size().eq(5).all()


def test_cli_train_demand_writes_forecasts(
    tracking_uri: str, tmp_path: Path, capsys, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, "forecasting")
    world = generate_omnichannel(n_skus=8, n_days=150, seed=9, transactions=False)
    sales = tmp_path / "sales.csv"
    world.sales.to_csv(sales, index=False)
    out = tmp_path / "forecast.csv"
    code = main(
        [
            "train-demand",
            "--sales",
            str(sales),
            "--freq",
            "D",
            "--horizon",
            "7",
            "--forecast-out",
            str(out),
            "--no-register",
            "--level",
            "80",
            "--level",
            "95",
        ]
    )
    assert code == 0, capsys.readouterr().err
    fc = pd.read_csv(out, dtype={"sku_id": str})
    assert list(fc.columns) == [
        "sku_id",
        "channel",
        "ds",
        "forecast",
        "forecast-lo-95",
        "forecast-lo-80",
        "forecast-median",
        "forecast-hi-80",
        "forecast-hi-95",
    ]
    assert fc["sku_id"].str.startswith("0").all()
    assert len(fc) == world.sales.groupby(["sku_id", "channel"]).ngroups * 7
    assert "MLflow run" in capsys.readouterr().out
    # a batch job's log says what ran and how long it took, a line per stage
    stages = [r.getMessage() for r in caplog.records if r.name == "forecasting"]
    for start in (f"read {sales}: ", "demand: fit on ", "backtest: local models"):
        assert any(m.startswith(start) and m.endswith(" s") for m in stages), (start, stages)


def test_cli_train_demand_rejects_bad_output_before_training(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    sales = tmp_path / "sales.csv"
    sales.write_text("sku_id,channel,ds,y\n1,a,2024-01-01,1\n")
    code = main(
        [
            "train-demand",
            "--sales",
            str(sales),
            "--freq",
            "D",
            "--horizon",
            "7",
            "--forecast-out",
            str(tmp_path / "f.xlsx"),
        ]
    )
    assert code == 1
    assert "unknown file type" in capsys.readouterr().err


@pytest.mark.parametrize("horizon", ["0", "-3"])
def test_cli_train_demand_rejects_bad_horizon(tmp_path: Path, capsys, horizon: str) -> None:  # type: ignore[no-untyped-def]
    sales = tmp_path / "sales.csv"
    sales.write_text("sku_id,channel,ds,y\n1,a,2024-01-01,1\n")
    code = main(["train-demand", "--sales", str(sales), "--freq", "D", "--horizon", horizon])
    assert code == 1
    assert "horizon must be >= 1" in capsys.readouterr().err
