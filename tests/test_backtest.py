"""The backtest sees only what serving sees: covariates of the windows' own days never reach
the models, and its error is not kinder than the error realized on the days after."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.metrics import naive_scales, series_metrics
from forecasting.demand.report import backtest_report, overall

CFG = DemandConfig(
    horizon=28,
    n_windows=3,
    lgb_n_estimators=120,
    local_models=("CrostonSBA", "SeasonalNaive"),
    ensembles=False,
)


def promo_world(n_series: int = 24, n_days: int = 448, seed: int = 5) -> pd.DataFrame:
    """Daily sales where promotions, on a tenth of the days at 30% off, triple demand."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_days)
    frames = []
    for i in range(n_series):
        promo = rng.random(n_days) < 0.1
        y = rng.poisson(rng.uniform(2.0, 12.0) * np.where(promo, 3.0, 1.0))
        frames.append(
            pd.DataFrame(
                {
                    "sku_id": f"{i:03d}",
                    "channel": "store",
                    "ds": dates,
                    "y": y.astype(float),
                    "price": np.where(promo, 7.0, 10.0),
                    "promo": promo.astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def world() -> pd.DataFrame:
    return promo_world()


def test_a_windows_own_covariates_do_not_reach_its_backtest(world: pd.DataFrame) -> None:
    """Serving does not know next month's promotions or prices; neither may the backtest:
    rewriting them in the last window leaves that window's forecasts unchanged."""
    end = world["ds"].max()
    last = world["ds"] > end - pd.Timedelta(days=CFG.horizon)
    rewritten = world.copy()
    rewritten.loc[last, "promo"] = 1 - rewritten.loc[last, "promo"]
    rewritten.loc[last, "price"] = 3.0
    a = DemandForecaster(CFG).fit(world)
    b = DemandForecaster(CFG).fit(rewritten)
    assert "LightGBM" in a.cv_.columns
    cut = a.cv_["cutoff"].max()
    models = ["LightGBM", "CrostonSBA", "SeasonalNaive"]
    pd.testing.assert_frame_equal(
        a.cv_.loc[a.cv_["cutoff"] == cut, ["unique_id", "ds", *models]].reset_index(drop=True),
        b.cv_.loc[b.cv_["cutoff"] == cut, ["unique_id", "ds", *models]].reset_index(drop=True),
    )


def test_backtest_error_is_not_kinder_than_the_realized_error(world: pd.DataFrame) -> None:
    """Without a plan, serving forecasts the next 28 days blind to their promotions; the
    backtest's RMSSE must promise no better (within 15%) than what is then realized."""
    end = world["ds"].max()
    history = world[world["ds"] <= end - pd.Timedelta(days=CFG.horizon)]
    future = world[world["ds"] > end - pd.Timedelta(days=CFG.horizon)]
    model = DemandForecaster(CFG).fit(history)
    backtest = overall(backtest_report(model, history)[1])
    assert backtest is not None
    fc = model.predict(history).merge(future, on=["sku_id", "channel", "ds"])
    fc["unique_id"] = fc["sku_id"]
    train = history.assign(unique_id=history["sku_id"])
    realized = series_metrics(fc, None, ["forecast"], scales=naive_scales(train))["rmsse"].mean()
    assert backtest["rmsse"] >= 0.85 * realized, (backtest["rmsse"], realized)


def test_a_model_that_cannot_forecast_a_series_is_counted_and_said() -> None:
    """Series too short for a model (here shorter than SeasonalNaive's week) get a stand-in
    (the other models' mean, else the series' mean demand): the forecast warns, naming the
    model and how many series, instead of filling in silence."""
    from forecasting.errors import FallbackWarning

    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=210)
    weekly = np.array([0.4, 0.5, 0.8, 1.0, 1.2, 2.0, 3.0])[dates.dayofweek]
    sales = pd.concat(
        [
            pd.DataFrame(
                {
                    "sku_id": f"{i:03d}",
                    "channel": "app",
                    "ds": dates,
                    "y": rng.poisson(rng.uniform(5, 20) * weekly).astype(float),
                }
            )
            for i in range(12)
        ],
        ignore_index=True,
    )
    cfg = CFG.with_(horizon=14, local_models=("SeasonalNaive",), use_lightgbm=False)
    model = DemandForecaster(cfg).fit(sales)
    assert model.selection_["smooth"] == ("SeasonalNaive",), model.selection_
    young = sales["sku_id"].isin(["000", "001", "002"]) & (
        sales["ds"] <= dates[-1] - pd.Timedelta(days=5)
    )
    with pytest.warns(FallbackWarning, match=r"SeasonalNaive on 3 series"):
        fc = model.predict(sales[~young])  # three series with five days: under a season
    assert fc["forecast"].notna().all()
    short = fc[fc["sku_id"].isin(["000", "001", "002"])]
    recent = sales[~young & sales["sku_id"].isin(["000", "001", "002"])]
    assert short["forecast"].mean() == pytest.approx(recent["y"].mean(), rel=0.5)


def test_statsforecasts_silent_fallback_is_counted_and_said() -> None:
    """statsforecast swaps in HistoricAverage when a model fails on a series and says
    nothing; the package counts it and says it once."""
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    from forecasting.demand.candidates import _counted_fallback, run_local
    from forecasting.errors import FallbackWarning

    class Fragile(Naive):  # fails on series whose last value is 999
        def forecast(self, y, h, *args, **kwargs):  # type: ignore[no-untyped-def]
            if y[-1] == 999:
                raise ValueError("boom")
            return super().forecast(y, h, *args, **kwargs)

    dates = pd.date_range("2024-01-01", periods=20)
    df = pd.DataFrame(
        {
            "unique_id": np.repeat([0, 1, 2], 20),
            "ds": np.tile(dates, 3),
            "y": np.r_[np.ones(20), np.full(19, 2.0), 999.0, np.full(20, 3.0)],
        }
    )
    sf = StatsForecast(models=[Fragile()], freq="D", fallback_model=_counted_fallback())
    with pytest.warns(FallbackWarning, match="HistoricAverage stood in for 1 failed fits"):
        out = run_local(sf, "forecast", df, h=3)
    assert out.loc[out["unique_id"] == 1, "Naive"].iloc[0] == pytest.approx((19 * 2 + 999) / 20)


def test_local_models_run_in_worker_processes_with_the_counted_fallback() -> None:
    """statsforecast sends the models, its fallback included, to its worker processes:
    they must pickle (many costly fits are spread over workers)."""
    from utilsforecast.data import generate_series

    from forecasting.demand.candidates import make_sf

    df = generate_series(4, freq="D", min_length=60, max_length=60, seed=1)
    sf = make_sf(DemandConfig(), ("AutoETS", "CrostonSBA"), n_jobs=2)
    assert sf.fallback_model is not None
    fc = sf.forecast(df=df, h=7)
    assert len(fc) == 4 * 7 and np.isfinite(fc[["AutoETS", "CrostonSBA"]].to_numpy()).all()


def test_the_counted_fallback_unpickles_in_a_fresh_process(tmp_path: Path) -> None:
    """A Spark executor's Python worker has not built the fallback's class yet."""
    import pickle
    import subprocess
    import sys

    from forecasting.demand.candidates import _counted_fallback

    path = tmp_path / "fallback.pkl"
    path.write_bytes(pickle.dumps(_counted_fallback()))
    code = f"import pickle; print(type(pickle.loads(open({str(path)!r}, 'rb').read())).__name__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "CountedHistoricAverage"
