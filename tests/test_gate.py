"""The promotion gate judges challenger and champion on days neither learned from."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.data.synthetic import generate_omnichannel
from forecasting.demand.config import LOCAL_MODELS, DemandConfig
from forecasting.pipelines import BuildResult, build_predictor
from forecasting.predictor import PredictorConfig

H = 14
CFG = PredictorConfig(
    demand=DemandConfig(
        horizon=H,
        n_windows=2,
        lgb_n_estimators=80,
        local_models=tuple(m for m in LOCAL_MODELS if m != "AutoETS"),
    )
)


def _build(sales: pd.DataFrame, tx: pd.DataFrame, **kw: Any) -> BuildResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return build_predictor(tx, sales, None, None, CFG, **kw)


def test_the_gate_keeps_a_sound_champion_and_refuses_what_it_cannot_judge(
    tracking_uri: str,
) -> None:
    world = generate_omnichannel(n_skus=30, n_days=220, seed=12)
    assert world.transactions is not None
    end = world.sales["ds"].max()
    t0 = end - pd.Timedelta(days=H)
    sales_t0 = world.sales[world.sales["ds"] <= t0]
    tx_t0 = world.transactions[world.transactions["ts"] < t0 + pd.Timedelta(days=1)]
    first = _build(sales_t0, tx_t0, tracking_uri=tracking_uri)
    assert first.promoted and first.verdict == "pass: no champion yet"

    # a broken upstream: the history before the held-out days came in at 0.3 of its units
    broken = world.sales.copy()
    old = broken["ds"] <= t0
    broken.loc[old, "y"] = broken.loc[old, "y"] * 0.3
    bad = _build(broken, world.transactions, tracking_uri=tracking_uri)
    assert not bad.promoted, bad.verdict
    assert "the sales give 0.30x the units the champion was trained on" in bad.verdict

    # a model of another world (other SKU codes) is not compared, not promoted
    other = generate_omnichannel(n_skus=30, n_days=220, seed=99, id_width=7)
    assert other.transactions is not None
    alien = _build(other.sales, other.transactions, tracking_uri=tracking_uri)
    assert not alien.promoted
    assert "knows none of these 30 SKUs" in alien.verdict

    # the sound feed, 14 more days: judged on them against v1, and promoted
    good = _build(world.sales, world.transactions, tracking_uri=tracking_uri)
    assert good.promoted, good.verdict
    assert good.verdict.startswith("pass vs v1")
    version = tracking.version_tags("elastic-sku-predictor", good.model_version, tracking_uri)
    start = (t0 + pd.Timedelta(days=1)).date()
    assert version["gate_period"] == f"{start}..{end.date()}"
    assert version["data_end"] == str(end.date())  # registered: refitted on all the data
    assert float(version["gate_rmsse_challenger"]) <= float(version["gate_rmsse_champion"])

    # the new champion was trained on every day given: nothing unseen to judge it on
    again = _build(world.sales, world.transactions, tracking_uri=tracking_uri)
    assert not again.promoted and "nothing unseen" in again.verdict
    forced = _build(world.sales, world.transactions, tracking_uri=tracking_uri, force=True)
    assert forced.promoted and forced.verdict.startswith("forced: fail")
