"""The predictor's configuration: its demand, policy and repurchase parts."""

from __future__ import annotations

from dataclasses import dataclass, field

from forecasting.demand.config import DemandConfig
from forecasting.policy.config import PolicyConfig


@dataclass(frozen=True)
class PredictorConfig:
    """The predictor's parts: demand, policy and the repurchase window."""

    demand: DemandConfig = field(default_factory=DemandConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    repurchase_days: int = 60
    cost_share_of_price: float = 0.6  # unit cost from prices when the SKU table has none
    # candidates too slow to refit at every scoring call: the demand selection is redone
    # without them on the same backtest (AutoETS fits ~100 series/s; the rest ~10^4/s)
    scoring_exclude: tuple[str, ...] = ("AutoETS",)
    # LightGBM's part of the decision from the direct horizon model (one prediction of each
    # series' mean over the horizon) rather than the mean of `horizon` recursive steps
    direct_horizon: bool = True
