"""The elastic-SKU predictor end to end on the generator's truth, and its saved form."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.synthetic import SyntheticData, generate_omnichannel
from forecasting.demand.config import DemandConfig
from forecasting.errors import NewSkuWarning
from forecasting.policy.decide import OUTPUT_COLUMNS
from forecasting.policy.presentation import COVER_CAP_WEEKS
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig

CFG = PredictorConfig(
    demand=DemandConfig(
        horizon=14, lgb_n_estimators=60, local_models=("AutoETS", "CrostonSBA"), n_windows=2
    )
)


@pytest.fixture(scope="module")
def world() -> SyntheticData:
    return generate_omnichannel(n_skus=60, n_days=300, seed=12)


@pytest.fixture(scope="module")
def predictor(world: SyntheticData) -> ElasticSkuPredictor:
    assert world.transactions is not None
    return ElasticSkuPredictor(CFG).fit(world.transactions, world.sales, world.skus)


def test_decisions_follow_design_and_recover_the_truth(
    world: SyntheticData, predictor: ElasticSkuPredictor
) -> None:
    out = predictor.predict(world.sales, world.inventory)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert len(out) == world.sales["sku_id"].nunique() and out["sku_id"].is_unique
    assert set(out["stocking"]) <= {"unified", "tiered"}
    assert set(out["demand_class"]) <= {"smooth", "erratic", "intermittent", "lumpy", "no_demand"}
    truth = world.truth.set_index("sku_id")
    got = out.set_index("sku_id").join(truth, rsuffix="_truth")
    for archetype, expected in [
        ("consumable", "unified"),
        ("durable", "tiered"),
        ("custom", "tiered"),
    ]:
        rows = got[got["archetype"] == archetype]
        assert (rows["stocking"] == expected).mean() >= 0.9, archetype
    hit = (got["slow_mover"] & got["slow_mover_truth"]).sum()
    assert hit / got["slow_mover_truth"].sum() >= 0.8
    assert hit / max(got["slow_mover"].sum(), 1) >= 0.8
    assert (got.loc[~got["slow_mover"], "slow_mover_reason"] == "").all()
    assert got["reason"].str.len().gt(20).all()


def test_weeks_of_cover_is_null_without_stock(
    world: SyntheticData, predictor: ElasticSkuPredictor
) -> None:
    out = predictor.predict(world.sales)
    assert out["weeks_of_cover"].isna().all()


def test_decisions_read_as_a_merchandiser_expects(
    world: SyntheticData, predictor: ElasticSkuPredictor
) -> None:
    """Money in cents of the policy's currency, "saves" the difference it names, cover
    capped at ten years where no demand is forecast, and a SKU the predictor never saw
    bought given the population's repurchase rate, said in its reason and one warning."""
    inventory = world.inventory.copy()
    sales = world.sales.copy()
    # one SKU with stock and no demand at all: infinite cover before the cap
    idle = sales["sku_id"].iloc[0]
    sales.loc[sales["sku_id"] == idle, "y"] = 0
    inventory.loc[inventory["sku_id"] == idle, "on_hand"] = 40
    # one SKU the predictor has never seen, with a copy of another's history
    donor = sales["sku_id"].iloc[-1]
    new = sales[sales["sku_id"] == donor].assign(sku_id="NEW01")
    sales = pd.concat([sales, new], ignore_index=True)
    inventory = pd.concat(
        [inventory, inventory[inventory["sku_id"] == donor].assign(sku_id="NEW01")]
    )
    euros = predictor.with_policy(currency="EUR")
    with pytest.warns(NewSkuWarning, match="^1 SKUs without a purchase") as caught:
        out = euros.predict(sales, inventory).set_index("sku_id")
    assert len([w for w in caught if issubclass(w.category, NewSkuWarning)]) == 1
    assert out.loc[idle, "weeks_of_cover"] == COVER_CAP_WEEKS
    assert out.loc[idle, "weeks_of_cover_capped"]
    assert out["weeks_of_cover"].le(COVER_CAP_WEEKS).all()
    assert out["weeks_of_cover_capped"].sum() == (out["weeks_of_cover"] == COVER_CAP_WEEKS).sum()
    assert (out["currency"] == "EUR").all()
    for col in ("expected_cost_unified", "expected_cost_tiered", "forecast_units"):
        assert (out[col] == out[col].round(2)).all(), col
    saves = out["reason"].str.extract(r"saves ([\d,]+\.\d\d) EUR")[0].str.replace(",", "")
    gap = (out["expected_cost_unified"] - out["expected_cost_tiered"]).abs()
    assert (saves.astype(float) - gap).abs().max() <= 0.011
    known = predictor.sku_facts_["repurchase_rate"]
    assert out.loc["NEW01", "repurchase_rate"] == round(known.mean(), 4)
    assert "new_sku" in out.loc["NEW01", "reason"]
    assert not out.drop(index="NEW01")["reason"].str.contains("new_sku").any()


def test_save_load_same_decisions(
    tmp_path: Path, world: SyntheticData, predictor: ElasticSkuPredictor
) -> None:
    loaded = ElasticSkuPredictor.load(predictor.save(tmp_path / "p"))
    pd.testing.assert_frame_equal(
        loaded.predict(world.sales, world.inventory),
        predictor.predict(world.sales, world.inventory),
    )


def test_a_scoring_worker_on_one_core_decides_the_same(
    tmp_path: Path, world: SyntheticData, predictor: ElasticSkuPredictor
) -> None:
    # a Spark task or a `score --jobs` worker runs the loaded predictor on its share of the
    # cores: the same decisions, and the predictor it came from keeps its own setting
    loaded = ElasticSkuPredictor.load(predictor.save(tmp_path / "p"))
    one = loaded.with_jobs(1)
    assert one.demand_.config.n_jobs == 1
    assert loaded.demand_.config.n_jobs == CFG.demand.n_jobs == 2
    pd.testing.assert_frame_equal(
        one.predict(world.sales, world.inventory), loaded.predict(world.sales, world.inventory)
    )
