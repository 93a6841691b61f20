"""Stockouts, seasons and launches (issue #17): a SKU that only looks slow is not flagged,
and the output says why; the forecaster learns demand, not what the shelf allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.data.stockouts import observed, uncensor, with_stock_history
from forecasting.data.synthetic import CONFOUNDED_MIX, generate_omnichannel
from forecasting.demand.classification import classify_demand
from forecasting.policy.config import PolicyConfig
from forecasting.policy.slow_movers import flag_slow_movers

END = pd.Timestamp("2025-03-01")


def _daily(sku: str, y: np.ndarray, on_hand: np.ndarray | None = None) -> pd.DataFrame:
    ds = pd.date_range(end=END, periods=len(y))
    out = pd.DataFrame({"sku_id": sku, "channel": "store", "ds": ds, "y": y.astype(float)})
    if on_hand is not None:
        out["on_hand"] = on_hand.astype(float)
    return out


def _chronic_stockouts(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A consumable selling Poisson(10) a day, out of stock on 40% of 300 days."""
    rng = np.random.default_rng(seed)
    out = np.zeros(300, dtype=bool)
    for start in range(5, 290, 25):
        out[start : start + 10] = True
    y = np.where(out, 0, rng.poisson(10.0, 300))
    return _daily("00042", y, np.where(out, 0.0, 50.0)), out


def test_out_of_stock_days_are_demand_estimated_from_in_stock_days() -> None:
    sales, out = _chronic_stockouts()
    sales.loc[4, ["y", "on_hand"]] = [3.0, 0.0]  # sold out after 3 units: keeps at least 3
    filled, summary = uncensor(sales)
    oos = filled["on_hand"].to_numpy() == 0
    assert oos.sum() == out.sum() + 1
    assert filled.loc[oos, "y"].mean() == pytest.approx(10.0, rel=0.1)
    assert (filled.loc[~oos, "y"] == sales.loc[~oos, "y"]).all()  # seen days untouched
    assert filled.loc[4, "y"] >= 3.0
    lost = filled["y"].sum() - sales["y"].sum()
    assert summary["lost_units"].iloc[0] == pytest.approx(lost)
    assert summary["stockout_periods"].iloc[0] == oos.sum()
    # the estimate looks back only: demand after a day does not change it
    later = sales.copy()
    later.loc[later.index[-50:], "y"] *= 3
    refilled = uncensor(later)[0]
    early = oos & (np.arange(len(sales)) < len(sales) - 120)
    assert np.allclose(refilled.loc[early, "y"], filled.loc[early, "y"])


def test_a_sparse_table_with_stockouts_gives_the_same_estimate() -> None:
    sales, _ = _chronic_stockouts(seed=1)
    sparse = sales[(sales["y"] > 0) | (sales["on_hand"] == 0) | (sales.index % 7 == 0)]
    dense_y = uncensor(sales)[0].set_index("ds")["y"]
    sparse_y = uncensor(sparse)[0].set_index("ds")["y"]
    pd.testing.assert_series_equal(dense_y, sparse_y, check_dtype=False)


def test_a_chronically_out_of_stock_consumable_is_smooth_not_intermittent() -> None:
    sales, out = _chronic_stockouts()
    censored = classify_demand(sales, by=("sku_id",)).iloc[0]
    naive = classify_demand(sales.drop(columns="on_hand"), by=("sku_id",)).iloc[0]
    assert censored["demand_class"] == "smooth"
    assert censored["adi"] < 1.05  # sells on nearly every in-stock day
    assert naive["adi"] > 1.32 and naive["demand_class"] in ("intermittent", "lumpy")
    assert len(observed(sales)) == (~out).sum()


def test_restocked_after_weeks_out_is_not_a_slow_mover() -> None:
    rng = np.random.default_rng(2)
    y = rng.poisson(8.0, 200)
    on_hand = np.full(200, 40.0)
    y[-26:], on_hand[-26:-1] = 0, 0.0  # 25 days out, restocked on the last day (no sale yet)
    sales = _daily("A", y, on_hand)
    stock = pd.DataFrame({"sku_id": ["A"], "on_hand": [120.0]})
    weekly = pd.Series({"A": 56.0})
    flags = flag_slow_movers(sales, stock, weekly, PolicyConfig()).iloc[0]
    assert not flags["slow_mover"], flags["slow_mover_reason"]
    assert flags["days_since_last_sale"] == 1  # in-stock days since the last sale
    naive = flag_slow_movers(sales.drop(columns="on_hand"), stock, weekly, PolicyConfig())
    assert "no_recent_sale" in naive["slow_mover_reason"].iloc[0]  # what it looked like


def _seasonal(stock_seasons: float) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """A summer good: sells Poisson(5) a day from May to August, nothing else; the data ends
    on 1 March of its third year. Stock: ``stock_seasons`` times last season's sales."""
    rng = np.random.default_rng(3)
    ds = pd.date_range("2023-01-01", END)
    summer = ds.month.isin([5, 6, 7, 8])
    y = np.where(summer, rng.poisson(5.0, len(ds)), 0)
    sales = pd.DataFrame({"sku_id": "S", "channel": "store", "ds": ds, "y": y.astype(float)})
    season = float(y[(ds.year == 2024) & summer].sum())
    stock = pd.DataFrame({"sku_id": ["S"], "on_hand": [stock_seasons * season]})
    return sales, stock, season


def test_off_season_stock_that_fits_the_coming_season_is_a_seasonal_hold() -> None:
    sales, stock, _ = _seasonal(0.7)
    off_season_forecast = pd.Series({"S": 0.0})
    flags = flag_slow_movers(sales, stock, off_season_forecast, PolicyConfig()).iloc[0]
    assert not flags["slow_mover"]
    assert flags["hold_reason"] == "seasonal_hold"
    # without the season rule every rule fires: what a merchandiser would wrongly clear
    blind = PolicyConfig(season_ratio=float("inf"))  # the season rule off
    naive = flag_slow_movers(sales, stock, off_season_forecast, blind).iloc[0]
    assert set(naive["slow_mover_reason"].split(";")) == {
        "excess_cover",
        "no_recent_sale",
        "decayed_demand",
    }


def test_several_seasons_of_stock_is_a_slow_mover_even_off_season() -> None:
    sales, stock, _ = _seasonal(3.0)
    flags = flag_slow_movers(sales, stock, pd.Series({"S": 0.0}), PolicyConfig()).iloc[0]
    assert flags["slow_mover"] and flags["slow_mover_reason"] == "excess_cover"
    assert flags["hold_reason"] == ""
    # a look-ahead that reaches the whole season judges it the same way, with margin
    longer = PolicyConfig(season_lookahead_weeks=40)
    assert flag_slow_movers(sales, stock, pd.Series({"S": 0.0}), longer)["slow_mover"].iloc[0]


def _launch(stock_weeks_of_mature: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Peers in "grocery" selling ~70 a week for a year; a launch 5 weeks old ramping
    towards that rate (today ~25 a week), holding ``stock_weeks_of_mature`` weeks of it."""
    rng = np.random.default_rng(5)
    peers = [_daily(f"P{i}", rng.poisson(10.0, 365)) for i in range(5)]
    age = 35
    ramp = np.clip(np.arange(1, age + 1) / 100, 0, 1)
    launch = _daily("NEW", np.maximum(rng.poisson(10.0 * ramp), np.r_[1, np.zeros(age - 1)]))
    sales = pd.concat([*peers, launch], ignore_index=True)
    stock = pd.DataFrame({"sku_id": ["NEW"], "on_hand": [stock_weeks_of_mature * 70.0]})
    weekly = sales[sales["ds"] > END - pd.Timedelta(days=14)].groupby("sku_id")["y"].sum() / 2
    return sales, stock, weekly


def test_a_rising_launch_holding_its_launch_buy_is_not_slow() -> None:
    sales, stock, weekly = _launch(12.0)
    category = pd.Series({**{f"P{i}": "grocery" for i in range(5)}, "NEW": "grocery"})
    flags = flag_slow_movers(sales, stock, weekly, PolicyConfig(), category=category)
    new = flags.set_index("sku_id").loc["NEW"]
    assert new["weeks_of_cover"] > 26  # at today's rate it looks like excess
    assert not new["slow_mover"] and new["hold_reason"] == "new_launch"
    no_grace = flag_slow_movers(
        sales, stock, weekly, PolicyConfig(launch_grace_weeks=0), category=category
    )
    assert no_grace.set_index("sku_id").loc["NEW", "slow_mover_reason"] == "excess_cover"


def test_a_launch_with_far_too_much_stock_is_still_flagged() -> None:
    sales, stock, weekly = _launch(60.0)
    category = pd.Series({**{f"P{i}": "grocery" for i in range(5)}, "NEW": "grocery"})
    flags = flag_slow_movers(sales, stock, weekly, PolicyConfig(), category=category)
    new = flags.set_index("sku_id").loc["NEW"]
    assert new["slow_mover_reason"] == "excess_cover" and new["hold_reason"] == ""


def test_only_the_data_can_say_a_sku_is_new() -> None:
    """A table of the last five weeks cannot tell a launch from an old SKU: no grace."""
    sales, stock, weekly = _launch(60.0)
    recent = sales[sales["ds"] > END - pd.Timedelta(days=35)]
    flags = flag_slow_movers(recent, stock, weekly, PolicyConfig())
    assert (flags["hold_reason"] == "").all()


def test_a_daily_inventory_history_marks_the_out_of_stock_days() -> None:
    sales, out = _chronic_stockouts()
    history = sales[["sku_id", "channel", "ds", "on_hand"]]
    given = with_stock_history(sales.drop(columns="on_hand"), history)
    assert ((given["on_hand"] == 0).to_numpy() == out).all()
    snapshot = history.tail(1)  # one day: a snapshot, not a history
    assert "on_hand" not in with_stock_history(sales.drop(columns="on_hand"), snapshot)


def test_the_generator_s_confounders_are_what_they_say() -> None:
    world = generate_omnichannel(n_skus=120, n_days=560, seed=4, mix=CONFOUNDED_MIX)
    assert world.transactions is not None
    sales = world.sales.merge(world.truth[["sku_id", "archetype", "launch"]], on="sku_id")
    snap = world.inventory["ds"].max()
    oos = sales["on_hand"] == 0
    assert (sales.loc[oos, "y"] == 0).all()  # nothing sold off the shelf
    share = oos.groupby(sales["archetype"]).mean()
    assert 0.2 <= share["stockouts"] <= 0.5
    assert share[["consumable", "erratic", "seasonal", "launch"]].max() < 0.01
    restocked = sales[(sales["archetype"] == "restocked") & oos]
    last_out = restocked.groupby(["sku_id", "channel"])["ds"].max()
    assert ((snap - last_out).dt.days.between(1, 5)).all()
    launches = world.truth[world.truth["archetype"] == "launch"]
    assert ((snap - launches["launch"]).dt.days.between(21, 49)).all()
    seasonal = sales[sales["archetype"].isin(["seasonal", "seasonal_overstock"])]
    recent = seasonal[seasonal["ds"] > snap - pd.Timedelta(days=20)]
    assert recent["y"].sum() == 0  # off season at the snapshot
    held = world.truth.set_index("archetype")["hold_reason"]
    assert (held.loc["seasonal"] == "seasonal_hold").all()
    assert (held.loc["launch"] == "new_launch").all()
    # the transactions still sum to the sales
    tx = world.transactions.groupby(["sku_id", "channel"])["quantity"].sum()
    units = world.sales.groupby(["sku_id", "channel"])["y"].sum()
    assert np.allclose(tx.reindex(units.index, fill_value=0.0), units)


@pytest.mark.integration
def test_build_and_score_a_sales_file_with_daily_stock(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DESIGN.md's commands on a sales file with a daily on_hand column (no inventory
    file): the decisions see through stockouts, seasons and launches and say so."""
    from forecasting.cli import main

    world = generate_omnichannel(n_skus=36, n_days=450, seed=11, mix=CONFOUNDED_MIX)
    assert world.transactions is not None
    paths = {name: tmp_path / f"{name}.csv" for name in ("sales", "skus")}
    world.sales.to_csv(paths["sales"], index=False)
    world.skus.to_csv(paths["skus"], index=False)
    world.transactions.to_parquet(tmp_path / "tx.parquet")
    build = ["build-predictor", "--transactions", str(tmp_path / "tx.parquet")]
    build += ["--sales", str(paths["sales"]), "--skus", str(paths["skus"]), "--horizon", "14"]
    assert main(build) == 0
    out = tmp_path / "decisions.csv"
    score = ["score", "--model", "models:/elastic-sku-predictor@champion"]
    assert main([*score, "--sales", str(paths["sales"]), "--output", str(out)]) == 0
    got = pd.read_csv(out, dtype={"sku_id": str}, keep_default_na=False)
    got = got.merge(world.truth, on="sku_id", suffixes=("", "_truth")).set_index("sku_id")
    # the stockout share is the data's: out-of-stock series-days over series-days from the
    # series' first sale
    sales = world.sales.sort_values(["sku_id", "channel", "ds"])
    started = sales.groupby(["sku_id", "channel"])["y"].cummax() > 0
    share = (sales.loc[started, "on_hand"] == 0).groupby(sales.loc[started, "sku_id"]).mean()
    # written to four decimals
    assert np.allclose(got["stockout_share"].astype(float), share.reindex(got.index), atol=5e-5)
    stockouts = got[got["archetype"] == "stockouts"]
    assert stockouts["reason"].str.contains("out of stock on").all()
    assert (stockouts["lost_sales_units"].astype(float) > 0).all()
    for name in ("stockouts", "restocked"):  # healthy consumables: unified, not slow
        rows = got[got["archetype"] == name]
        assert len(rows) and (rows["stocking"] == "unified").all()
        assert not rows["slow_mover"].astype(str).eq("True").any()
    held = got[got["archetype"].isin(["seasonal", "launch"])]
    assert set(held["archetype"]) == {"seasonal", "launch"}
    assert (held["hold_reason"] == held["hold_reason_truth"]).all()
    assert held["reason"].str.contains("not slow: ").all()
    overstock = got[got["archetype"] == "seasonal_overstock"]
    assert len(overstock) and overstock["slow_mover_reason"].eq("excess_cover").all()


def test_a_launch_that_sold_a_few_months_and_stopped_is_not_a_season() -> None:
    """Zeros without a price before a launch (as M5 pads its items) are not a lull: the
    SKU was not on sale then, so last year's sales are no season to wait for."""
    rng = np.random.default_rng(6)
    ds = pd.date_range("2023-01-01", END)
    launched = ds >= "2024-03-15"
    selling = launched & (ds < "2024-07-15")
    y = np.where(selling, rng.poisson(5.0, len(ds)), 0)
    sales = pd.DataFrame({"sku_id": "D", "channel": "store", "ds": ds, "y": y.astype(float)})
    sales["price"] = np.where(launched, 9.99, np.nan)
    stock = pd.DataFrame({"sku_id": ["D"], "on_hand": [100.0]})
    flags = flag_slow_movers(sales, stock, pd.Series({"D": 0.0}), PolicyConfig()).iloc[0]
    assert flags["hold_reason"] == ""
    assert {"no_recent_sale", "excess_cover"} <= set(flags["slow_mover_reason"].split(";"))


def test_quiet_weeks_of_a_rarely_sold_good_are_not_a_season() -> None:
    """A good selling every ten days or so, with eight quiet weeks now and a year ago by
    chance: the rest of its year sold as much as the weeks ahead did, so no season."""
    rng = np.random.default_rng(7)
    ds = pd.date_range("2023-01-01", END)
    y = rng.poisson(0.1, len(ds)).astype(float)
    year_ago = END - pd.Timedelta(days=364)
    y[ds > END - pd.Timedelta(days=56)] = 0
    y[(ds > year_ago - pd.Timedelta(days=56)) & (ds <= year_ago)] = 0
    sales = pd.DataFrame({"sku_id": "R", "channel": "store", "ds": ds, "y": y, "price": 500.0})
    stock = pd.DataFrame({"sku_id": ["R"], "on_hand": [10.0]})  # would fit a "season"
    flags = flag_slow_movers(sales, stock, pd.Series({"R": 0.7}), PolicyConfig()).iloc[0]
    assert flags["hold_reason"] == ""
    assert flags["slow_mover_reason"] == "no_recent_sale"  # 59 days, usually every 10


@pytest.mark.parametrize(("targets", "same"), [("mask", True), ("impute", False)])
def test_masked_targets_leave_lightgbm_blind_to_what_out_of_stock_days_sold(
    targets: str, same: bool
) -> None:
    from forecasting.demand.boosting import booster_of, fit_lgb
    from forecasting.demand.config import DemandConfig
    from forecasting.demand.panel import IN_STOCK, prepare_panel

    rng = np.random.default_rng(3)
    frames = []
    for i in range(6):
        y = rng.poisson(8.0, 200).astype(float)
        on_hand = np.full(200, 40.0)
        on_hand[-5:] = 0.0  # out of stock over the last 5 days (fewer than the first lag)
        frames.append(_daily(f"{i:05d}", y, on_hand))
    sales = pd.concat(frames, ignore_index=True)
    cfg = DemandConfig(horizon=7, lgb_n_estimators=30, stockout_targets=targets, n_jobs=1)
    panel = prepare_panel(sales, cfg)[0]
    assert panel[IN_STOCK].min() == 0.0 and panel[IN_STOCK].max() == 1.0
    other = panel.copy()
    other.loc[other[IN_STOCK] == 0.0, "y"] += 50.0  # what the shelf allowed on those days
    features = rng.uniform(0, 20, (50, 1))

    def predictions(p: pd.DataFrame) -> np.ndarray:
        booster = booster_of(fit_lgb(p, cfg, [], ["channel"]))
        x = np.hstack([np.zeros((50, 1)), features.repeat(booster.num_feature() - 1, axis=1)])
        return np.asarray(booster.predict(x))

    assert np.allclose(predictions(panel), predictions(other)) == same
