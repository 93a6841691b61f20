"""What the forecast knows in advance (issue #16): a calendar's events and a plan's
promotions reach LightGBM, the calendar must cover the horizon, the model keeps it, a
calendar given at predict time replaces it, and the bands are widened to their held-out
coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.cli import main
from forecasting.data.adapters import load_m5, load_m5_calendar
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.intervals import interval_scales
from forecasting.errors import DataContractError

CFG = DemandConfig(
    horizon=28,
    n_windows=2,
    lgb_n_estimators=120,
    local_models=("CrostonSBA", "TSB"),
    tsb_grid=((0.1, 0.1),),
)
START, DAYS = pd.Timestamp("2024-01-01"), 420
EVENT_LIFT, PROMO_LIFT = 4.0, 2.5


def world(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(sales up to day ``DAYS``, a calendar running 60 days further, the event days): 24
    series of Poisson demand, x4 on event days (about one day in ten, known in the
    calendar) and x2.5 on promotion days (flagged in the sales)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(START, periods=DAYS + 60)
    event = rng.random(len(days)) < 0.1
    calendar = pd.DataFrame(
        {"ds": days, "event": np.where(event, "sale_day", None), "payday": (days.day == 1) * 1.0}
    )
    rows = []
    for i in range(24):
        promo = (rng.random(DAYS) < 0.08).astype(int)
        rate = rng.uniform(2, 8) * np.where(event[:DAYS], EVENT_LIFT, 1.0)
        rate = rate * np.where(promo == 1, PROMO_LIFT, 1.0)
        rows.append(
            pd.DataFrame(
                {
                    "sku_id": f"{i:05d}",
                    "channel": "store" if i % 2 else "app",
                    "ds": days[:DAYS],
                    "y": rng.poisson(rate).astype(float),
                    "price": np.where(promo == 1, 8.0, 10.0),
                    "promo": promo,
                }
            )
        )
    return pd.concat(rows, ignore_index=True), calendar, pd.Series(days[event])


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    return world()


@pytest.fixture(scope="module")
def with_calendar(data: tuple[pd.DataFrame, pd.DataFrame, pd.Series]) -> DemandForecaster:
    sales, calendar, _ = data
    return DemandForecaster(CFG).fit(sales, calendar=calendar)


def lift(fc: pd.DataFrame, days: pd.Series, column: str = "LightGBM") -> float:
    """Mean forecast on ``days`` over the mean forecast on the other days."""
    on = fc["ds"].isin(days)
    return float(fc.loc[on, column].mean() / fc.loc[~on, column].mean())


def test_lightgbm_learns_the_calendars_events(
    data: tuple[pd.DataFrame, pd.DataFrame, pd.Series], with_calendar: DemandForecaster
) -> None:
    sales, _, events = data
    fc = with_calendar.forecast(all_models=True)
    horizon_events = events[events > sales["ds"].max()]
    assert fc["ds"].isin(horizon_events).any()
    assert lift(fc, horizon_events) > 0.6 * EVENT_LIFT  # the truth is x4
    assert lift(fc, horizon_events, "forecast") > 2.0  # and the selected forecast uses it
    blind = DemandForecaster(CFG).fit(sales).forecast()
    assert lift(blind, horizon_events, "forecast") < 1.3  # without the calendar it cannot know


def test_rows_for_every_channel_reach_a_channel_the_calendar_names_no_row_for(
    data: tuple[pd.DataFrame, pd.DataFrame, pd.Series],
) -> None:
    """DESIGN.md: rows without a channel apply to every channel. A calendar that also has
    rows of its own for one channel ("store": its first week) still gives the other
    ("app", named nowhere) the events of the common rows, at training and forecast."""
    sales, calendar, events = data
    own = calendar.head(7).assign(channel="store")
    mixed = pd.concat([calendar.assign(channel=None), own], ignore_index=True)
    fc = DemandForecaster(CFG).fit(sales, calendar=mixed).forecast(all_models=True)
    horizon_events = events[events > sales["ds"].max()]
    for channel in ("app", "store"):
        assert lift(fc[fc["channel"] == channel], horizon_events) > 0.6 * EVENT_LIFT, channel


def test_a_plan_of_promotions_reaches_the_forecast(
    data: tuple[pd.DataFrame, pd.DataFrame, pd.Series], with_calendar: DemandForecaster
) -> None:
    sales, _, _ = data
    end = sales["ds"].max()
    promo_days = pd.Series(pd.date_range(end + pd.Timedelta(days=3), periods=5, freq="4D"))
    plan = (
        sales[["sku_id", "channel"]]
        .drop_duplicates()
        .merge(pd.DataFrame({"ds": promo_days}), how="cross")
    )
    plan = plan.assign(promo=1, price=8.0)
    held = with_calendar.predict(sales)
    planned = with_calendar.predict(sales, future=plan)
    on = planned["ds"].isin(promo_days)
    gain = planned.loc[on, "forecast"].sum() / held.loc[on.to_numpy(), "forecast"].sum()
    assert gain > 1.5  # the truth is x2.5
    before = (planned["ds"] < promo_days.min()).to_numpy()  # later days read them as lags
    assert np.allclose(planned.loc[before, "forecast"], held.loc[before, "forecast"])


def test_a_calendar_short_of_the_horizon_fails_naming_the_first_missing_day(
    data: tuple[pd.DataFrame, pd.DataFrame, pd.Series],
) -> None:
    sales, calendar, _ = data
    end = sales["ds"].max()
    short = calendar[calendar["ds"] <= end + pd.Timedelta(days=10)]
    with pytest.raises(DataContractError) as err:
        DemandForecaster(CFG).fit(sales, calendar=short)
    first_missing = (end + pd.Timedelta(days=11)).date()
    assert f"the first missing day is {first_missing}" in str(err.value)


def test_the_model_keeps_its_calendar_and_a_given_one_replaces_it(
    tmp_path: Path,
    data: tuple[pd.DataFrame, pd.DataFrame, pd.Series],
    with_calendar: DemandForecaster,
) -> None:
    sales, calendar, _ = data
    with_calendar.save(tmp_path / "model")
    loaded = DemandForecaster.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.predict(sales), with_calendar.predict(sales))
    # a calendar without the events gives other forecasts; one without a column is refused
    quiet = calendar.assign(event=None)
    assert not np.allclose(
        loaded.predict(sales, calendar=quiet)["forecast"],
        loaded.predict(sales)["forecast"],
    )
    with pytest.raises(DataContractError, match="does not have the columns"):
        loaded.predict(sales, calendar=calendar.drop(columns="payday"))
    # later sales than the stored calendar covers: one error, fixed by giving a calendar
    later = sales.assign(ds=sales["ds"] + pd.Timedelta(days=50))
    with pytest.raises(DataContractError, match="first missing day"):
        loaded.predict(later)
    longer = pd.concat([calendar, calendar.assign(ds=calendar["ds"] + pd.Timedelta(days=480))])
    assert len(loaded.predict(later, calendar=longer)) == 24 * CFG.horizon


def test_bands_are_widened_to_their_held_out_coverage() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.normal(10, 2, n).clip(0)
    held = pd.DataFrame(
        {
            "y": y,
            "forecast": 10.0,
            # a band of +-1.28 sd of 1, where the errors have sd 2: covers about 48%
            "forecast-lo-80": 10 - 1.28,
            "forecast-hi-80": 10 + 1.28,
            "demand_class": "smooth",
            "cutoff": np.repeat([0, 1], n // 2),
        }
    )
    scales = interval_scales(held, DemandConfig())
    row = scales.iloc[0]
    assert row["coverage_before"] < 0.55
    assert 0.80 <= row["coverage_after"] < 0.81  # at least the level, and no wider than that
    assert 1.9 < row["scale"] < 2.1


def test_the_coverage_curve_counts_exactly_the_days_inside_each_widened_band() -> None:
    """Intermittent sales with bands clipped at zero, a few skewed bands (both offsets on one
    side of the forecast) and zero offsets: each factor's coverage is the share of days the
    band at that factor holds, as a merchandiser would count them."""
    from forecasting.demand.intervals import SCALE_GRID, _coverage

    rng = np.random.default_rng(3)
    n = 3000
    y = np.where(rng.random(n) < 0.4, 0.0, rng.poisson(3, n)).astype(float)
    f = np.round(rng.gamma(1, 2, n), 1) * (rng.random(n) > 0.2)
    lo = -rng.gamma(1, 1, n) * (rng.random(n) < 0.9) + 0.5 * (rng.random(n) < 0.05)
    hi = rng.gamma(1, 2, n) * (rng.random(n) < 0.95) - 0.5 * (rng.random(n) < 0.05)
    # days exactly on a band's edge at some factor of the grid: counted as inside
    edge = rng.random(n) < 0.1
    hi[edge] = rng.integers(1, 4, edge.sum())
    y[edge] = f[edge] + rng.choice([1.0, 1.5, 2.0], edge.sum()) * hi[edge]
    got = _coverage(y, f, lo, hi)
    for i in range(0, len(SCALE_GRID), 2):
        low = np.maximum(f + SCALE_GRID[i] * lo, 0.0)
        high = np.maximum(f + SCALE_GRID[i] * hi, 0.0)
        inside = (y >= np.minimum(low, high)) & (y <= np.maximum(low, high))
        assert got[i] == inside.mean(), SCALE_GRID[i]


@pytest.mark.slow
def test_train_demand_takes_m5s_calendar_and_fails_in_one_line_when_it_is_short(
    shared_data: Path, tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sales, _ = load_m5(shared_data / "m5_tiny")
    items = sorted(sales["sku_id"].unique())[:3]
    stores = ["CA_1", "TX_1"]
    part = sales[sales["sku_id"].isin(items) & sales["channel"].isin(stores)]
    part = part[part["ds"] > part["ds"].max() - pd.Timedelta(days=500)]
    cal = load_m5_calendar(shared_data / "m5_tiny", stores)
    sales_csv, cal_csv = tmp_path / "sales.csv", tmp_path / "calendar.csv"
    part[["sku_id", "channel", "ds", "y", "price"]].to_csv(sales_csv, index=False)
    cal.to_csv(cal_csv, index=False)
    out = tmp_path / "forecast.csv"
    args = ["train-demand", "--sales", str(sales_csv), "--freq", "D", "--horizon", "28"]
    fast = ["--no-register", "--n-windows", "2", "--tracking-uri", tracking_uri]
    code = main([*args, "--calendar", str(cal_csv), "--forecast-out", str(out), *fast])
    assert code == 0
    fc = pd.read_csv(out)
    assert len(fc) == 6 * 28 and fc["forecast"].notna().all()
    end = part["ds"].max()
    cal[cal["ds"] <= end + pd.Timedelta(days=20)].to_csv(cal_csv, index=False)
    capsys.readouterr()
    assert main([*args, "--calendar", str(cal_csv), *fast]) == 1
    err = capsys.readouterr().err.strip()
    first_missing = (end + pd.Timedelta(days=21)).date()
    assert len(err.splitlines()) == 1
    assert str(cal_csv) in err and f"first missing day is {first_missing}" in err


def test_the_predictor_keeps_its_calendar_and_scoring_can_replace_it(tmp_path: Path) -> None:
    from forecasting.data.synthetic import generate_omnichannel
    from forecasting.predictor import ElasticSkuPredictor, PredictorConfig
    from forecasting.scoring.local import Known, score_part

    world = generate_omnichannel(n_skus=20, n_days=200, seed=5)
    assert world.transactions is not None
    end = world.sales["ds"].max()
    days = pd.date_range(world.sales["ds"].min(), end + pd.Timedelta(days=40))
    calendar = pd.DataFrame({"ds": days, "event": np.where(days.day == 15, "mid", None)})
    cfg = PredictorConfig(demand=CFG.with_(horizon=14))
    fitted = ElasticSkuPredictor(cfg).fit(world.transactions, world.sales, calendar=calendar)
    fitted.save(tmp_path / "predictor")
    loaded = ElasticSkuPredictor.load(tmp_path / "predictor")
    pd.testing.assert_frame_equal(loaded.predict(world.sales), fitted.predict(world.sales))
    later = world.sales.assign(ds=world.sales["ds"] + pd.Timedelta(days=60))
    with pytest.raises(DataContractError, match="first missing day"):
        loaded.predict(later)
    ahead = calendar.assign(ds=calendar["ds"] + pd.Timedelta(days=60))
    scored = score_part(Known(ahead).applied(loaded), later)
    assert len(scored) == later["sku_id"].nunique()
