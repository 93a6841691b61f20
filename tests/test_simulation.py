"""The policy replay: lead times, pooling, backorders, clearance, metrics; the predictor's
simulation on a held-out month of a synthetic world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.data.synthetic import generate_omnichannel
from forecasting.errors import ForecastingError
from forecasting.policy.config import PolicyConfig
from forecasting.policy.simulation import simulate
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig, simulate_predictor

DAYS = pd.date_range("2024-03-04", periods=10, freq="D")
ONE_NODE = PolicyConfig(
    review_days=1,
    store_lead_days=3,
    central_lead_days=5,
    nodes_per_channel=(("store", 1), ("app", 1)),
    service_level=0.5,  # z = 0: order-up-to = mean demand over lead time + review
)


def plan(stocking: str, slow: bool = False, reason: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    decisions = pd.DataFrame(
        {
            "sku_id": ["001"],
            "stocking": [stocking],
            "slow_mover": [slow],
            "slow_mover_reason": [reason],
            "unit_cost": [10.0],
            "mean_daily": [2.0],
            "pool_sd_daily": [0.0],
            "pool_units": [12.0],
            "display_units": [0.0],
            "idle_units": [0.0],
            "wait_share": [0.0],
        }
    )
    channels = pd.DataFrame(
        {
            "sku_id": ["001", "001"],
            "channel": ["store", "app"],
            "nodes": [1.0, 1.0],
            "mean_daily": [1.0, 1.0],
            "sd_daily": [0.0, 0.0],
            "min_stock": [1.0, 1.0],
            "u_units": [4.0, 4.0],
        }
    )
    return decisions, channels


def demand(per_day: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku_id": "001",
            "channel": np.repeat(["store", "app"], len(DAYS)),
            "ds": np.tile(DAYS, 2),
            "y": per_day,
        }
    )


def test_nothing_is_served_before_the_first_order_arrives() -> None:
    decisions, channels = plan("unified")
    stock = pd.DataFrame({"sku_id": "001", "channel": ["store", "app"], "on_hand": 0.0})
    result = simulate(decisions, channels, demand(), stock, ONE_NODE)
    s = result.summary.set_index("policy")
    # ordered on day 0, arrives on day 3: days 3..9 served (7 of 10), in both channels
    assert s.loc["all_unified", "fill_rate"] == pytest.approx(0.7)
    assert s.loc["all_unified", "served_units"] == pytest.approx(14.0)
    # both policies are identical for a unified SKU that is not a slow mover
    assert s.loc["predictor", "fill_rate"] == pytest.approx(0.7)


def test_a_tiered_sku_pools_channel_stock_upstream() -> None:
    decisions, channels = plan("tiered")
    # all the stock sits in the store: unified cannot serve the app, the pool serves both
    stock = pd.DataFrame({"sku_id": "001", "channel": ["store", "app"], "on_hand": [20.0, 0.0]})
    result = simulate(decisions, channels, demand(), stock, ONE_NODE)
    s = result.summary.set_index("policy")
    assert s.loc["predictor", "fill_rate"] == pytest.approx(1.0)
    assert s.loc["all_unified", "fill_rate"] < 1.0
    # 20 units moved upstream and 20 units shipped to buyers: one transfer each
    unit = 10.0 * ONE_NODE.transfer_cost_rate + ONE_NODE.transfer_cost_fixed
    assert s.loc["predictor", "transfer_cost"] == pytest.approx(40 * unit)
    assert s.loc["all_unified", "transfer_cost"] == 0.0


def test_buyers_who_wait_are_served_when_the_pool_is_refilled() -> None:
    decisions, channels = plan("tiered")
    decisions["wait_share"] = 0.25  # a quarter of the buyers will not wait
    stock = pd.DataFrame({"sku_id": "001", "channel": ["store", "app"], "on_hand": 0.0})
    result = simulate(decisions, channels, demand(), stock, ONE_NODE)
    s = result.summary.set_index("policy").loc["predictor"]
    # 1.5 patient units a day. Nothing is on hand until the first order arrives on day 5,
    # yet all 15 patient units are served: the 7.5 that waited are backordered, and orders
    # count them in the inventory position. Under lost sales at most 7.5 would be served.
    assert s["served_units"] == pytest.approx(15.0)
    assert s["backorders_open_end"] == pytest.approx(0.0)
    lost = 20.0 - 15.0  # the quarter of buyers who would not wait
    assert s["lost_margin"] == pytest.approx(lost * 10.0 * ONE_NODE.margin_rate)
    # and the summary says why they were lost
    assert s["lost_units_not_waiting"] == pytest.approx(lost)
    assert s["lost_units_delisted"] == 0.0 and s["lost_units_out_of_stock"] == pytest.approx(0.0)


def test_lost_demand_is_split_by_cause() -> None:
    decisions, channels = plan("unified", slow=True, reason="no_recent_sale")
    stock = pd.DataFrame({"sku_id": "001", "channel": ["store", "app"], "on_hand": [3.0, 0.0]})
    s = simulate(decisions, channels, demand(), stock, ONE_NODE).summary.set_index("policy")
    # the predictor delisted a SKU that still sells: all 20 units of demand lost to that
    p, b = s.loc["predictor"], s.loc["all_unified"]
    assert p["lost_units_delisted"] == pytest.approx(20.0) and p["served_units"] == 0.0
    # the baseline ran out: 3 units on the shelf, the first order arriving on day 3
    assert b["lost_units_out_of_stock"] == pytest.approx(20.0 - b["served_units"])
    assert b["lost_units_out_of_stock"] > 0
    assert b["lost_units_delisted"] == 0.0 and b["lost_units_not_waiting"] == 0.0


def test_a_dead_slow_mover_is_delisted_and_its_stock_cleared() -> None:
    decisions, channels = plan("unified", slow=True, reason="no_recent_sale")
    stock = pd.DataFrame({"sku_id": "001", "channel": ["store", "app"], "on_hand": [30.0, 10.0]})
    result = simulate(decisions, channels, demand(0.0), stock, ONE_NODE)
    s = result.summary.set_index("policy")
    # the warehouse behind the SKU starts in steady state: its level, 2 a day x (5 + 1) days,
    # with the 5 days' lead time in transit (10) and 2 on hand
    rate = 10.0 * ONE_NODE.clearance_loss_rate
    assert s.loc["predictor", "clearance_cost"] == pytest.approx((40 + 2) * rate)
    assert s.loc["predictor", "slow_mover_share_end"] == 0.0
    assert s.loc["predictor", "avg_inventory_units"] == 0.0  # its open orders were cancelled
    # the baseline keeps the 40 units that do not sell and receives the orders in transit: a
    # slow mover at the end, and its write-down charges it as if it cleared them in turn
    assert s.loc["all_unified", "slow_mover_share_end"] == 1.0
    assert result.per_sku.set_index("policy").loc["all_unified", "end_stock"] == 40 + 12
    assert s.loc["all_unified", "slow_stock_writedown"] == pytest.approx((40 + 12) * rate)


def test_unified_nodes_are_refilled_from_a_warehouse_that_can_run_short() -> None:
    # demand is twice the plan's: the warehouse, sized for the plan and refilled after the
    # supplier's 5 days, cannot ship the nodes all they order
    stock = pd.DataFrame({"sku_id": "001", "channel": ["store", "app"], "on_hand": 4.0})
    short = fill_rate(simulate(*plan("unified"), demand(2.0), stock, ONE_NODE), "all_unified")
    decisions, channels = plan("unified")
    decisions["mean_daily"] = 4.0  # the same nodes; a warehouse sized for the true demand
    ample = fill_rate(simulate(decisions, channels, demand(2.0), stock, ONE_NODE), "all_unified")
    assert short < ample


def test_a_tiered_skus_pool_holds_its_warehouse_stock() -> None:
    # nothing in the channels, yet the pool serves from the first day: the warehouse's stock
    # on hand (2 units: its level of 12 less the 10 in transit) is part of the pool
    decisions, channels = plan("tiered")
    stock = pd.DataFrame({"sku_id": "001", "channel": ["store", "app"], "on_hand": 0.0})
    daily = simulate(decisions, channels, demand(), stock, ONE_NODE).daily
    first = daily[daily["policy"] == "predictor"].iloc[0]
    assert first["served_units"] == pytest.approx(2.0)


def fill_rate(result: object, policy: str) -> float:
    summary = result.summary.set_index("policy")  # type: ignore[attr-defined]
    return float(summary.loc[policy, "fill_rate"])


def test_turnover_days_is_inventory_over_daily_cost_of_goods_sold() -> None:
    decisions, channels = plan("unified")
    result = simulate(decisions, channels, demand(), None, ONE_NODE)
    s = result.summary.set_index("policy").loc["all_unified"]
    cogs_per_day = s["served_units"] * 10.0 / len(DAYS)
    assert s["turnover_days"] == pytest.approx(s["avg_inventory_value"] / cogs_per_day)
    daily = result.daily[result.daily["policy"] == "all_unified"]
    assert daily["inventory_value"].mean() == pytest.approx(s["avg_inventory_value"])


@pytest.fixture(scope="module")
def fitted() -> tuple[ElasticSkuPredictor, pd.DataFrame, pd.DataFrame]:
    world = generate_omnichannel(n_skus=60, n_days=258, seed=8, holdout_days=28)
    assert world.transactions is not None
    snapshot = world.inventory["ds"].max()
    cfg = PredictorConfig()
    cfg = PredictorConfig(demand=cfg.demand.with_(horizon=28, n_windows=2))
    history = world.sales[world.sales["ds"] <= snapshot]
    tx = world.transactions[world.transactions["ts"] < snapshot + pd.Timedelta(days=1)]
    predictor = ElasticSkuPredictor(cfg).fit(tx, history, world.skus)
    return predictor, world.sales, world.inventory


def test_predictor_beats_all_unified_on_a_held_out_month(
    fitted: tuple[ElasticSkuPredictor, pd.DataFrame, pd.DataFrame],
) -> None:
    predictor, sales, inventory = fitted
    result, decisions = simulate_predictor(predictor, sales, inventory, holdout=28)
    s = result.summary.set_index("policy")
    assert s.loc["predictor", "demand_units"] == s.loc["all_unified", "demand_units"] > 0
    assert s.loc["predictor", "turnover_days"] < s.loc["all_unified", "turnover_days"]
    assert (
        s.loc["predictor", "slow_mover_share_end"] <= s.loc["all_unified", "slow_mover_share_end"]
    )
    assert len(decisions) == sales["sku_id"].nunique()
    again, _ = simulate_predictor(predictor, sales, inventory, holdout=28)
    pd.testing.assert_frame_equal(result.summary, again.summary)  # seeded: same figures


def test_an_inventory_dated_inside_the_held_out_periods_is_refused(
    fitted: tuple[ElasticSkuPredictor, pd.DataFrame, pd.DataFrame],
) -> None:
    predictor, sales, inventory = fitted
    with pytest.raises(ForecastingError, match="first held-out period"):
        simulate_predictor(predictor, sales, inventory, holdout=40)
    # no inventory: each policy starts at its own order-up-to levels
    result, _ = simulate_predictor(predictor, sales, None, holdout=28)
    assert (result.summary["clearance_cost"] == 0).all()
