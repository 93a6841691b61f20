"""The generator's ground truth: classes, consistency of the tables, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS, validate
from forecasting.data.synthetic import SyntheticData, generate_omnichannel
from forecasting.demand.classification import ADI_CUTOFF, CV2_CUTOFF, classify_demand


def test_each_archetype_falls_in_its_syntetos_boylan_class(world: SyntheticData) -> None:
    stats = classify_demand(world.sales).merge(world.truth, on="sku_id", suffixes=("", "_truth"))
    judged = stats[stats["demand_class_truth"] != ""]
    assert set(judged["archetype"]) == {"consumable", "erratic", "durable", "custom"}
    for archetype, group in judged.groupby("archetype"):
        intended = group["demand_class_truth"].iloc[0]
        share = (group["demand_class"] == intended).mean()
        assert share >= 0.97, (archetype, share)
        adi, cv2 = group["adi"].median(), group["cv2"].median()
        assert (adi < ADI_CUTOFF) == (intended in ("smooth", "erratic")), (archetype, adi)
        assert (cv2 >= CV2_CUTOFF) == (intended in ("erratic", "lumpy")), (archetype, cv2)


def test_transactions_sum_exactly_to_sales(world: SyntheticData) -> None:
    tx = world.transactions
    assert tx is not None
    daily = (
        tx.assign(ds=tx["ts"].dt.normalize()).groupby(["sku_id", "channel", "ds"])["quantity"].sum()
    )
    sold = world.sales[world.sales["y"] > 0].set_index(["sku_id", "channel", "ds"])["y"]
    pd.testing.assert_series_equal(daily.sort_index(), sold.sort_index(), check_names=False)
    assert (tx["quantity"] >= 1).all()


def test_tables_meet_their_contracts_with_text_ids(world: SyntheticData) -> None:
    for df, contract in [
        (world.sales, SALES),
        (world.transactions, TRANSACTIONS),
        (world.inventory, INVENTORY),
        (world.skus, SKUS),
    ]:
        validate(df, contract)
    assert world.skus["sku_id"].str.startswith("0").all()
    assert world.transactions is not None
    assert world.transactions["customer_id"].str.startswith("0").any()


def test_consumables_are_repurchased_and_durables_are_not(world: SyntheticData) -> None:
    tx = world.transactions
    assert tx is not None
    arch = tx["sku_id"].map(world.truth.set_index("sku_id")["archetype"])
    buys = tx.groupby([arch, "sku_id", "customer_id"]).size()
    repeat = (buys > 1).groupby(level=0).mean()
    assert repeat["consumable"] > 0.5
    assert repeat["durable"] < 0.1
    assert repeat["custom"] < 0.1


def test_customers_who_favour_a_channel_buy_mostly_there_and_the_sales_stay() -> None:
    def dominant_share(tx: pd.DataFrame) -> float:
        per = tx.groupby(["customer_id", "channel"]).size()
        many = per.groupby(level=0).sum() >= 5
        return float((per.groupby(level=0).max() / per.groupby(level=0).sum())[many].mean())

    plain = generate_omnichannel(n_skus=40, n_days=200, seed=5)
    keen = generate_omnichannel(n_skus=40, n_days=200, seed=5, channel_preference=0.3)
    again = generate_omnichannel(n_skus=40, n_days=200, seed=5, channel_preference=0.3)
    assert plain.transactions is not None and keen.transactions is not None
    assert dominant_share(keen.transactions) > dominant_share(plain.transactions) + 0.15
    # the same orders and sales: only who placed each order changes, reproducibly
    pd.testing.assert_frame_equal(keen.sales, plain.sales)
    same = ["sku_id", "channel", "ts", "quantity", "amount"]
    pd.testing.assert_frame_equal(keen.transactions[same], plain.transactions[same])
    pd.testing.assert_frame_equal(keen.transactions, again.transactions)
    with pytest.raises(ValueError, match="channel_preference"):
        generate_omnichannel(n_skus=5, channel_preference=0.0)


def test_slow_movers_hold_stock_that_will_not_sell(world: SyntheticData) -> None:
    truth = world.truth.set_index("sku_id")
    last_90 = world.sales[world.sales["ds"] > world.sales["ds"].max() - pd.Timedelta(days=90)]
    recent_units = last_90.groupby("sku_id")["y"].sum()
    stock = world.inventory.groupby("sku_id")["on_hand"].sum()
    dying = truth.index[truth["archetype"] == "dying"]
    assert (recent_units[dying] == 0).all()
    assert (stock[dying] > 0).all()
    weekly = world.series_truth.groupby("sku_id")["expected_units_last_28d"].sum() / 4
    excess = truth.index[truth["slow_mover_reason"] == "excess_cover"]
    assert len(excess) > 0
    cover = stock[excess] / weekly[excess]
    assert (cover > world.config.excess_cover_weeks).all()
    healthy = truth.index[~truth["slow_mover"] & (truth["archetype"] == "consumable")]
    assert (stock[healthy] / weekly[healthy] < 8).all()


def test_launches_give_leading_zeros_with_null_prices(world: SyntheticData) -> None:
    late = world.truth[world.truth["launch"] > world.sales["ds"].min()]
    assert len(late) > 0
    sku = late.iloc[0]
    before = world.sales[
        (world.sales["sku_id"] == sku["sku_id"]) & (world.sales["ds"] < sku["launch"])
    ]
    assert (before["y"] == 0).all()
    assert before["price"].isna().all()


def test_same_seed_same_world_other_seed_other_world() -> None:
    a = generate_omnichannel(n_skus=20, n_days=60, seed=3)
    b = generate_omnichannel(n_skus=20, n_days=60, seed=3)
    c = generate_omnichannel(n_skus=20, n_days=60, seed=4)
    for name in ("sales", "inventory", "skus", "truth", "transactions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.sales["y"].to_numpy(), c.sales["y"].to_numpy())


def test_one_channel_and_bad_configs() -> None:
    one = generate_omnichannel(n_skus=10, n_days=40, channels=("store",), transactions=False)
    assert set(one.sales["channel"]) == {"store"}
    assert one.transactions is None
    with pytest.raises(ValueError, match="unknown archetypes"):
        generate_omnichannel(mix=(("gadget", 1.0),))
