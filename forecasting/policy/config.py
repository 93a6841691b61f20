"""The stocking policy's cost, service and slow-mover settings: one frozen, logged config."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class PolicyConfig:
    """Costs and thresholds of the unified-vs-tiered decision and of the slow-mover flags.

    Money is in the currency of ``unit_cost``; rates are per year unless named otherwise.
    """

    horizon_days: int = 28
    service_level: float = 0.95  # cycle service level behind the safety stock
    review_days: int = 7  # replenishment review period (cycle stock = half a period)
    holding_rate: float = 0.3  # yearly holding cost (capital, space, markdown) at a store
    upstream_holding_factor: float = 0.6  # warehouse space is cheaper than shelf space
    margin_rate: float = 0.5  # margin lost per unit not sold, as a share of unit cost
    store_lead_days: float = 3.0  # unified: lead time to replenish a channel's stock
    central_lead_days: float = 10.0  # tiered: lead time to replenish the central pool
    transfer_cost_rate: float = 0.01  # tiered: cost to ship a unit downstream, share of cost
    transfer_cost_fixed: float = 1.0  # tiered: plus this per unit
    wait_loss_frequent: float = 0.35  # share of demand lost when a habitual buyer must wait
    wait_loss_rare: float = 0.0  # ... and when a rare or custom buyer must wait
    channel_correlation: float = 0.0  # rho between channels' demand in the pooled sigma
    # stocking nodes of each channel when it keeps its own stock (stores; fulfilment centres)
    nodes_per_channel: tuple[tuple[str, int], ...] = (
        ("store", 50),
        ("app", 3),
        ("mini_program", 3),
        ("marketplace", 2),
    )
    habit_repurchase_rate: float = 0.3  # a repurchase rate at which every buyer is habitual
    showroom_share: float = 0.1  # tiered: share of a channel's nodes with a display unit
    showroom_channels: tuple[str, ...] = ("store",)  # channels with physical displays
    display_units: int = 1  # tiered: units on display per showroom
    regional_share: float = 0.3  # tiered: share of the pooled stock held regionally
    default_unit_cost: float = 10.0  # when the SKU table has no unit_cost
    # slow movers
    max_weeks_of_cover: float = 26.0
    no_sale_days: int = 56  # no sale for this long while stock is held: slow mover, and...
    no_sale_intervals: float = 8.0  # ...sooner: this many of its usual days between sales,
    no_sale_min_days: int = 14  # but never sooner than this
    decay_alpha: float = 0.02  # smoothing of the demand probability (TSB's p)
    decay_ratio: float = 0.2  # p now below this share of its long-run level: decayed
    # what the policy does with a flagged slow mover (replayed by `forecasting simulate`):
    # its stock is pulled to the central pool, units beyond what the pool needs are cleared
    # at this loss (share of unit cost), and it is stocked tiered without display units
    clearance_loss_rate: float = 0.5

    def __post_init__(self) -> None:
        if not 0.5 <= self.service_level < 1:
            raise ValueError("service_level must be in [0.5, 1)")
        if self.horizon_days < 1:
            raise ValueError("horizon_days must be >= 1")

    def with_(self, **changes: Any) -> PolicyConfig:
        return replace(self, **changes)
