"""The stocking cost model: decisions follow from costs and recover the generator's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from forecasting.data.synthetic import SyntheticData, generate_omnichannel
from forecasting.demand.classification import classify_demand
from forecasting.policy.config import PolicyConfig
from forecasting.policy.stocking import sigma_from_quantiles, stocking_costs
from forecasting.propensity.repurchase import sku_repurchase_rates


@pytest.fixture(scope="module")
def world() -> SyntheticData:
    return generate_omnichannel(n_skus=150, n_days=365, seed=8)


def inputs(world: SyntheticData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Demand of the last 8 weeks as the forecast (mean and sd per day), SKU facts."""
    end = world.sales["ds"].max()
    recent = world.sales[world.sales["ds"] > end - pd.Timedelta(days=56)]
    channels = (
        recent.groupby(["sku_id", "channel"])["y"]
        .agg(mean_daily="mean", sd_daily="std")
        .reset_index()
    )
    stats = classify_demand(world.sales, by=("sku_id",))
    assert world.transactions is not None
    rates = sku_repurchase_rates(world.transactions, end, 60)
    skus = world.skus[["sku_id", "unit_cost"]].merge(stats, on="sku_id")
    skus["sale_frequency"] = 1 / skus["adi"]
    skus["order_size"] = skus["total_units"] / skus["n_nonzero"]
    skus = skus.merge(rates[["sku_id", "predicted_rate"]], on="sku_id", how="left")
    skus["repurchase_rate"] = skus["predicted_rate"]
    return channels, skus


def test_consumables_come_out_unified_and_rare_goods_tiered(world: SyntheticData) -> None:
    channels, skus = inputs(world)
    truth = world.truth[["sku_id", "archetype"]]
    res = stocking_costs(channels, skus, PolicyConfig()).merge(truth, on="sku_id")
    for archetype, expected in [
        ("consumable", "unified"),
        ("durable", "tiered"),
        ("custom", "tiered"),
    ]:
        share = (res.loc[res["archetype"] == archetype, "stocking"] == expected).mean()
        assert share >= 0.95, (archetype, share)
    chosen = np.where(
        res["stocking"] == "tiered", res["expected_cost_tiered"], res["expected_cost_unified"]
    )
    assert (chosen <= np.minimum(res["expected_cost_tiered"], res["expected_cost_unified"])).all()


def test_reason_names_the_deciding_term_and_tiers_hold_the_units(world: SyntheticData) -> None:
    channels, skus = inputs(world)
    res = stocking_costs(channels, skus, PolicyConfig())
    tiered = res[res["stocking"] == "tiered"]
    assert tiered["reason"].str.startswith("tiered: ").all()
    assert res.loc[res["stocking"] == "unified", "reason"].str.startswith("unified: ").all()
    assert (tiered["units_central"] >= tiered["units_regional"]).all()
    assert (
        (res.loc[res["stocking"] == "unified", ["units_central", "units_regional"]] == 0)
        .all()
        .all()
    )


def test_costs_move_the_decision() -> None:
    channels = pd.DataFrame(
        {
            "sku_id": "A",
            "channel": ["store", "app"],
            "mean_daily": [0.2, 0.1],
            "sd_daily": [0.5, 0.3],
        }
    )
    skus = pd.DataFrame(
        {
            "sku_id": ["A"],
            "unit_cost": [200.0],
            "sale_frequency": [0.2],
            "order_size": [1.0],
            "repurchase_rate": [0.02],
        }
    )
    assert stocking_costs(channels, skus, PolicyConfig())["stocking"].iloc[0] == "tiered"
    # if transfers were very expensive the same SKU would be stocked everywhere
    dear = PolicyConfig(transfer_cost_fixed=500.0)
    assert stocking_costs(channels, skus, dear)["stocking"].iloc[0] == "unified"


def test_pooling_uses_the_correlation_between_channels() -> None:
    channels = pd.DataFrame(
        {
            "sku_id": "A",
            "channel": ["store", "app"],
            "mean_daily": [1.0, 1.0],
            "sd_daily": [1.0, 1.0],
        }
    )
    skus = pd.DataFrame(
        {
            "sku_id": ["A"],
            "unit_cost": [50.0],
            "sale_frequency": [0.9],
            "order_size": [1.0],
            "repurchase_rate": [0.1],
        }
    )
    independent = stocking_costs(channels, skus, PolicyConfig())["tiered_shortage"].iloc[0]
    correlated = stocking_costs(channels, skus, PolicyConfig(channel_correlation=1.0))
    assert correlated["tiered_shortage"].iloc[0] == pytest.approx(independent * np.sqrt(2))


def test_sigma_from_an_80_percent_interval() -> None:
    sd = sigma_from_quantiles(pd.Series([90.0]), pd.Series([110.0]), 80)
    assert sd.iloc[0] == pytest.approx(20 / (2 * 1.2815516), rel=1e-6)


def test_slow_movers_are_found_with_their_reasons(world: SyntheticData) -> None:
    from forecasting.policy.slow_movers import flag_slow_movers

    end = world.sales["ds"].max()
    recent = world.sales[world.sales["ds"] > end - pd.Timedelta(days=56)]
    weekly = recent.groupby("sku_id")["y"].sum() / 8
    flags = flag_slow_movers(world.sales, world.inventory, weekly, PolicyConfig())
    got = flags.merge(
        world.truth[["sku_id", "slow_mover", "slow_mover_reason"]],
        on="sku_id",
        suffixes=("", "_truth"),
    )
    hit = (got["slow_mover"] & got["slow_mover_truth"]).sum()
    assert hit / got["slow_mover_truth"].sum() >= 0.9  # recall
    assert hit / got["slow_mover"].sum() >= 0.8  # precision, with a naive forecast
    dying = got[got["slow_mover_reason_truth"] == "decayed_demand"]
    assert dying["slow_mover"].all()
    assert dying["slow_mover_reason"].str.contains("decayed_demand|no_recent_sale").mean() >= 0.5
    assert (got.loc[~got["slow_mover"], "slow_mover_reason"] == "").all()


def test_no_stock_data_gives_null_cover_and_no_stock_flags() -> None:
    from forecasting.policy.slow_movers import flag_slow_movers

    sales = pd.DataFrame(
        {"sku_id": "A", "channel": "app", "ds": pd.date_range("2024-01-01", periods=300), "y": 0.0}
    )
    sales.loc[:10, "y"] = 3.0  # sold on the first 11 days, then nothing for 289
    flags = flag_slow_movers(sales, None, pd.Series({"A": 0.0}), PolicyConfig())
    assert flags["weeks_of_cover"].isna().all()
    assert not flags["slow_mover"].any()  # nothing held, nothing stuck
    stock = pd.DataFrame({"sku_id": ["A"], "on_hand": [12.0]})
    flags = flag_slow_movers(sales, stock, pd.Series({"A": 0.0}), PolicyConfig())
    assert set(flags["slow_mover_reason"].iloc[0].split(";")) == {
        "excess_cover",
        "no_recent_sale",
        "decayed_demand",
    }


def test_demand_probability_is_tsb_smoothing_over_each_skus_days() -> None:
    """The closed form equals pandas' exponentially weighted mean run over every day of a
    SKU (channels summed) from its first sale to the end of the data, also when its days
    without a sale have no rows (a sparse table: a missing day is a day without sales)."""
    from forecasting.policy.slow_movers import demand_probability

    rng = np.random.default_rng(4)
    dates = pd.date_range("2024-01-01", periods=200)
    rows = [
        pd.DataFrame({"sku_id": f"{s:03d}", "channel": ch, "ds": dates, "y": rng.poisson(lam, 200)})
        for s, lam in enumerate([0.05, 0.3, 2.0, 0.0])
        for ch in ("app", "store")
    ]
    dense = pd.concat(rows, ignore_index=True)
    sparse = dense[(dense["y"] > 0) | (dense["sku_id"] != "001")]  # SKU 001: sale rows only
    alpha = 0.1
    got = demand_probability(sparse, ["sku_id"], alpha)
    assert_frame_equal(got, demand_probability(dense, ["sku_id"], alpha))
    daily = dense.groupby(["sku_id", "ds"])["y"].sum().reset_index()
    for sku, all_days in daily.groupby("sku_id"):
        sold = all_days["y"] > 0
        rows_ = all_days[sold.cummax()] if sold.any() else all_days  # from the first sale
        occurred = (rows_["y"] > 0).astype(float)
        now = occurred.ewm(alpha=alpha, adjust=False).mean().iloc[-1]
        assert got.loc[sku, "demand_prob_now"] == pytest.approx(now)
        old = rows_["ds"] <= daily["ds"].max() - pd.Timedelta(days=10)
        expected = occurred[old & sold.cummax()].mean()  # never sold: no long-run level
        if np.isnan(expected):
            assert np.isnan(got.loc[sku, "demand_prob_longrun"])
        else:
            assert got.loc[sku, "demand_prob_longrun"] == pytest.approx(expected)
