"""The stocking policy's cost, service and slow-mover settings: one frozen, logged config."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

INF = float("inf")
#: Valid range of each numeric setting: (low, high, whether high itself is excluded).
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "horizon_days": (1, INF, False),
    "service_level": (0.5, 1.0, True),
    "review_days": (1, INF, False),
    "holding_rate": (0, INF, False),
    "upstream_holding_factor": (0, INF, False),
    "margin_rate": (0, INF, False),
    "store_lead_days": (0, INF, False),
    "central_lead_days": (0, INF, False),
    "transfer_cost_rate": (0, INF, False),
    "transfer_cost_fixed": (0, INF, False),
    "wait_loss_frequent": (0, 1, False),
    "wait_loss_rare": (0, 1, False),
    "channel_correlation": (-1, 1, False),
    "habit_repurchase_rate": (0.001, 1, False),
    "showroom_share": (0, 1, False),
    "display_units": (0, INF, False),
    "regional_share": (0, 1, False),
    "default_unit_cost": (0, INF, False),
    "max_weeks_of_cover": (0, INF, False),
    "no_sale_days": (1, INF, False),
    "no_sale_intervals": (0, INF, False),
    "no_sale_min_days": (0, INF, False),
    "decay_alpha": (0.001, 1, True),
    "decay_ratio": (0, 1, False),
    "clearance_loss_rate": (0, 1, False),
    "season_lookahead_weeks": (1, 52, False),
    "season_ratio": (1, INF, False),
    "season_min_sale_periods": (1, INF, False),
    "launch_grace_weeks": (0, INF, False),
}


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
    # seasons: a SKU whose demand in the coming season_lookahead_weeks, as it sold in those
    # weeks a year ago, was season_ratio times (or more) its rate now, a year ago and over
    # the rest of the year (with at least season_min_sale_periods periods with a sale) is
    # off season. It is judged against that season's demand: `seasonal_hold` when its
    # stock fits within max_weeks_of_cover of it, `excess_cover` beyond; never
    # `no_recent_sale` or `decayed_demand`. Needs the SKU on sale since a year plus 8 weeks
    # ago; season_ratio = inf: no seasons.
    season_lookahead_weeks: float = 26.0
    season_ratio: float = 3.0
    season_min_sale_periods: int = 4
    # launches: a SKU whose first sale is at most launch_grace_weeks old is `new_launch`:
    # not `no_recent_sale` or `decayed_demand`, and `excess_cover` only against its expected
    # mature rate (the larger of its forecast and the median forecast of the established
    # SKUs of its category in the SKU table)
    launch_grace_weeks: float = 8.0
    # the currency of unit_cost (and so of every cost): a label on the decisions
    currency: str = "USD"

    def __post_init__(self) -> None:
        label = self.currency
        if not isinstance(label, str) or not (label.strip() and label.isprintable()):
            raise ValueError(f'policy currency = {self.currency!r}: give a label, e.g. "EUR"')
        for name, (low, high, high_open) in BOUNDS.items():
            value = getattr(self, name)
            if not (low <= value and (value < high if high_open else value <= high)):
                right = ")" if high_open else "]"
                span = f">= {low:g}" if high == INF else f"in [{low:g}, {high:g}{right}"
                raise ValueError(f"policy {name} = {value!r}: must be {span}")
        for channel, nodes in self.nodes_per_channel:
            if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
                raise ValueError(
                    f"policy network {channel} = {nodes!r}: give its stocking nodes as a "
                    "whole number >= 1"
                )
        if len({c for c, _ in self.nodes_per_channel}) != len(self.nodes_per_channel):
            raise ValueError("policy network: a channel is listed twice")

    @property
    def network(self) -> dict[str, int]:
        """Stocking nodes per channel."""
        return dict(self.nodes_per_channel)

    def with_(self, **changes: Any) -> PolicyConfig:
        return replace(self, **changes)
