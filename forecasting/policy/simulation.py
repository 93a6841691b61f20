"""Replay held-out demand under two stocking policies, period by period.

* ``predictor``: each SKU as the predictor decided. Unified SKUs: every channel keeps its
  own stock, reviewed every ``review_days`` and ordered up to the channel's unified level
  (``u_units``), arriving after ``store_lead_days``. Tiered SKUs: the channels' stock is
  pulled into one upstream pool (central + regional) that serves every channel, ordered up
  to ``pool_units`` and arriving after ``central_lead_days``; display units sit in the
  showrooms; every unit served is a transfer; the share ``wait_share`` of demand whose
  buyers will not wait for a delivery is lost. Flagged slow movers are served from the pool
  without displays: one that has stopped selling (``decayed_demand``, ``no_recent_sale``)
  is delisted, all its stock cleared at ``clearance_loss_rate`` of unit cost; one that
  only holds too much (``excess_cover``) keeps its pool's order-up-to level and the rest is
  cleared. Buyers of a pooled SKU who wait for a delivery also wait when the pool is out:
  their demand is backordered and served first when stock arrives (a delisted SKU's demand
  is lost).
* ``all_unified``: the baseline with the same service target: every SKU unified, as
  above, nothing cleared, the idle nodes of the network holding their minimum stock.

Both wait on the same supplier: a warehouse behind every SKU orders up to the pool's level
with the SKU's supplier lead time; unified nodes order from it (a short one ships each node
the same share), a pooled SKU's pool is it plus the channels' stock (`replay_start`).

Demand not served from stock on hand is lost. Vectorised over series; the loop is over
periods only. Metrics per policy: fill rate, average inventory (units and value at cost),
turnover days (average inventory value / cost of goods sold per day), holding, lost
margin, transfer and clearance costs, and the share of SKUs that are slow movers at the
end: stock held with more than ``max_weeks_of_cover`` weeks of the trailing demand (the
held-out periods, plus the days before them up to 13 weeks when given). That
slow stock is charged ``clearance_loss_rate`` of its value (``slow_stock_writedown``), so
stock one policy clears now and the other clears later costs both the same.

Order-up-to levels: ``mean (L + R) + z sigma sqrt(L + R)`` per node or for the pool, at
least one typical order (the plan's minimum stock), nodes summed per channel; L is the
lead time, R the review period and z the service level's quantile.

No library replays an order-up-to policy with lost sales over a multi-tier network on a
panel of series, hence the loop below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from forecasting.policy.config import PolicyConfig
from forecasting.policy.replay_start import initial_stock, split_demand

POLICIES = ("predictor", "all_unified")
METRICS = (
    "fill_rate",
    "avg_inventory_units",
    "avg_inventory_value",
    "turnover_days",
    "slow_mover_share_end",
    "holding_cost",
    "lost_margin",
    "transfer_cost",
    "clearance_cost",
    "slow_stock_writedown",
    "total_cost",
    "demand_units",
    "served_units",
    "backorders_open_end",
    # demand not served, by cause: buyers of a pooled SKU who would not wait for a delivery,
    # a delisted SKU's buyers, and stock that ran out (channel or pool); with the buyers
    # still waiting at the end (backorders_open_end) they sum to demand - served
    "lost_units_not_waiting",
    "lost_units_delisted",
    "lost_units_out_of_stock",
)


@dataclass
class SimulationResult:
    """``summary``: one row per policy with `METRICS`; ``per_sku``: one row per SKU and
    policy (demand, served, end stock, weeks of cover at the end, slow mover at the end);
    ``daily``: inventory value and fill per period and policy."""

    summary: pd.DataFrame
    per_sku: pd.DataFrame
    daily: pd.DataFrame
    period_days: float
    first_held_out: str | None = None  # the first replayed period (ISO date)
    in_sample: bool = False  # the replayed periods overlap the model's training data

    def improvement(self) -> dict[str, float]:
        """Predictor vs baseline: relative change of turnover days, fill-rate difference,
        slow-mover shares."""
        s = self.summary.set_index("policy")
        p, b = s.loc["predictor"], s.loc["all_unified"]
        return {
            "turnover_days_change": float(p["turnover_days"] / b["turnover_days"] - 1)
            if b["turnover_days"] > 0
            else float("nan"),
            "fill_rate_diff": float(p["fill_rate"] - b["fill_rate"]),
            "slow_mover_share_predictor": float(p["slow_mover_share_end"]),
            "slow_mover_share_baseline": float(b["slow_mover_share_end"]),
        }


def simulate(
    decisions: pd.DataFrame,
    channel_plan: pd.DataFrame,
    demand: pd.DataFrame,
    start_stock: pd.DataFrame | None,
    config: PolicyConfig,
    period_days: float = 1.0,
    seed: int = 0,
    prior_demand: pd.Series | None = None,
    prior_days: float = 0.0,
) -> SimulationResult:
    """Replay ``demand`` (``sku_id, channel, ds, y`` over the held-out periods, one row per
    series and period) under both policies.

    ``decisions`` and ``channel_plan`` come from `forecasting.policy.decide.plan` (or
    ``ElasticSkuPredictor.plan``) on the history before the held-out periods. ``start_stock``
    (``sku_id, channel, on_hand``) is the stock at the start; None: every policy starts at
    its own order-up-to levels. SKUs without a decision are left out. ``seed``: how each
    channel's demand is split over its nodes. ``prior_demand`` (units per SKU over the
    ``prior_days`` before the held-out periods) joins the held-out demand in the trailing
    rate that judges slow movers at the end, as a trailing 13-week sales report would: a
    month without a sale says little about a good that sells once a month.
    """
    cfg = config
    dec = decisions.set_index("sku_id")
    skus = dec.index
    sku_pos = pd.Series(np.arange(len(skus)), index=skus)
    periods = np.sort(demand["ds"].unique())
    demand = demand[demand["sku_id"].isin(skus)]
    series = (
        pd.concat([channel_plan[["sku_id", "channel"]], demand[["sku_id", "channel"]]])
        .drop_duplicates()
        .loc[lambda d: d["sku_id"].isin(skus)]
        .sort_values(["sku_id", "channel"])
        .reset_index(drop=True)
    )
    n_series, n_periods = len(series), len(periods)
    s_of = series.reset_index().set_index(["sku_id", "channel"])["index"]
    sku_of = sku_pos.reindex(series["sku_id"]).to_numpy()
    # demand matrix (series x periods)
    d = np.zeros((n_series, n_periods))
    rows = s_of.reindex(pd.MultiIndex.from_frame(demand[["sku_id", "channel"]])).to_numpy()
    cols = np.searchsorted(periods, demand["ds"].to_numpy())
    np.add.at(d, (rows, cols), demand["y"].to_numpy(dtype="float64"))

    cost = dec["unit_cost"].to_numpy(dtype="float64")
    review = max(1, round(cfg.review_days / period_days))
    lead_store = max(1, math.ceil(cfg.store_lead_days / period_days))
    # the central pool's lead time per SKU: the SKU table's supplier lead time where the
    # plan has one (``lead_days``), else the policy's
    lead_days = (
        dec["lead_days"].fillna(cfg.central_lead_days).to_numpy(dtype="float64")
        if "lead_days" in dec.columns
        else np.full(len(skus), cfg.central_lead_days)
    )
    lead_central = np.maximum(1, np.ceil(lead_days / period_days)).astype(int)
    rate_per_period = cfg.holding_rate * period_days / 365.0
    z = float(norm.ppf(cfg.service_level))
    # order-up-to levels cover the lead time plus a review period at the service target
    cover_store = (lead_store + review) * period_days
    cover_central = (lead_central + review) * period_days
    cp = channel_plan.set_index(["sku_id", "channel"]).reindex(pd.MultiIndex.from_frame(series))
    nodes = cp["nodes"].fillna(1.0).to_numpy()
    node_level = np.ceil(
        cp["mean_daily"].fillna(0.0).to_numpy() / nodes * cover_store
        + z * cp["sd_daily"].fillna(0.0).to_numpy() / np.sqrt(nodes) * np.sqrt(cover_store)
    )
    node_up_to = np.maximum(node_level, cp["min_stock"].fillna(0.0).to_numpy())
    node_up_to = np.where(cp["u_units"].isna().to_numpy(), 0.0, node_up_to)  # not planned
    pool_mean = dec["mean_daily"].to_numpy(dtype="float64") * cover_central
    order_size = channel_plan.groupby("sku_id")["min_stock"].max().reindex(skus).fillna(1.0)
    pool_up_to = np.maximum(
        np.ceil(
            pool_mean + z * dec["pool_sd_daily"].to_numpy(dtype="float64") * np.sqrt(cover_central)
        ),
        order_size.to_numpy(),
    )
    # unified stock lives in each node: a channel's demand is split over its nodes at random
    # (seeded) and a node serves only its own customers; its start stock is split evenly
    n_nodes = nodes.astype(int)
    node_series = np.repeat(np.arange(n_series), n_nodes)
    node_d = split_demand(d, n_nodes, np.random.default_rng(seed))
    node_up = node_up_to[node_series]
    stock0 = None
    if start_stock is not None:
        series_stock = (
            start_stock.groupby(["sku_id", "channel"])["on_hand"]
            .sum()
            .reindex(pd.MultiIndex.from_frame(series))
            .fillna(0.0)
            .to_numpy()
        )
        first = np.repeat(np.cumsum(n_nodes) - n_nodes, n_nodes)
        rank = np.arange(len(node_series)) - first  # node's position within its series
        base = np.floor(series_stock / n_nodes)
        rest = series_stock - base * n_nodes
        stock0 = base[node_series] + np.clip(rest[node_series] - rank, 0.0, 1.0)

    tiered = (dec["stocking"] == "tiered").to_numpy()
    slow = dec["slow_mover"].astype(bool).to_numpy()
    pooled = tiered | slow  # SKUs served from the upstream pool under the predictor
    reasons = dec["slow_mover_reason"].fillna("").astype(str)
    # a slow mover that has stopped selling is delisted (all stock cleared, no reorders);
    # one that still sells but holds too much keeps what its pool needs
    delist = slow & reasons.str.contains("decayed_demand|no_recent_sale").to_numpy()
    # the warehouse behind every SKU (its level, its demand per period); under the predictor
    # a pooled SKU's warehouse is part of its pool, which a delisted SKU no longer has
    upstream = (pool_up_to, dec["mean_daily"].to_numpy(dtype="float64") * period_days)
    keep = np.where(delist, 0.0, pool_up_to)
    display = np.where(slow, 0.0, dec["display_units"].to_numpy(dtype="float64"))
    wait = np.where(pooled, dec["wait_share"].to_numpy(dtype="float64"), 0.0)
    idle = dec["idle_units"].to_numpy(dtype="float64")

    results = {}
    for policy in POLICIES:
        in_pool = pooled if policy == "predictor" else np.zeros(len(skus), dtype=bool)
        results[policy] = _replay(
            node_d,
            sku_of[node_series],
            in_pool,
            node_up,
            stock0,
            keep,
            np.where(in_pool, display, 0.0),
            np.where(in_pool, 0.0, idle),
            np.where(in_pool, wait, 0.0),
            np.where(slow, keep, np.inf) if policy == "predictor" else np.full(len(skus), np.inf),
            upstream,
            cost,
            (review, lead_store, lead_central),
            rate_per_period,
            cfg,
        )
    prior = (
        prior_demand.reindex(skus).fillna(0.0).to_numpy(dtype="float64")
        if prior_demand is not None
        else np.zeros(len(skus))
    )
    return _report(
        results, skus, pooled, sku_of, d, periods, cost, prior, prior_days, period_days, cfg
    )


def _report(
    results: dict[str, dict[str, Any]],
    skus: pd.Index,
    pooled: np.ndarray,
    sku_of: np.ndarray,
    d: np.ndarray,
    periods: np.ndarray,
    cost: np.ndarray,
    prior: np.ndarray,
    prior_days: float,
    period_days: float,
    cfg: PolicyConfig,
) -> SimulationResult:
    """The replays' figures: per policy, per SKU and per period."""
    n_periods = len(periods)
    summary_rows, per_sku_parts, daily_parts = [], [], []
    weeks = n_periods * period_days / 7.0
    demand_sku = np.bincount(sku_of, weights=d.sum(axis=1), minlength=len(skus))
    trailing = demand_sku + prior
    weekly = trailing / (weeks + prior_days / 7.0) if weeks + prior_days > 0 else trailing
    for policy, r in results.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            cover = np.where(
                weekly > 0, r["end_stock"] / weekly, np.where(r["end_stock"] > 0, np.inf, 0)
            )
        slow_end = (r["end_stock"] > 0) & (cover > cfg.max_weeks_of_cover)
        served_value = float((r["served_sku"] * cost).sum())
        avg_value = float(r["value_path"].mean())
        cogs_per_day = served_value / (n_periods * period_days) if n_periods else 0.0
        lost = float(((demand_sku - r["served_sku"]) * cost).sum() * cfg.margin_rate)
        summary = {
            "policy": policy,
            "fill_rate": float(r["served_sku"].sum() / demand_sku.sum())
            if demand_sku.sum() > 0
            else float("nan"),
            "avg_inventory_units": float(r["units_path"].mean()),
            "avg_inventory_value": avg_value,
            "turnover_days": avg_value / cogs_per_day if cogs_per_day > 0 else float("inf"),
            "slow_mover_share_end": float(slow_end.mean()) if len(skus) else 0.0,
            "holding_cost": r["holding"],
            "lost_margin": lost,
            "transfer_cost": r["transfer"],
            "clearance_cost": r["clearance"],
            # what the slow stock left at the end will lose when it is cleared in turn
            "slow_stock_writedown": float(
                (r["end_stock"] * cost * slow_end).sum() * cfg.clearance_loss_rate
            ),
            "demand_units": float(demand_sku.sum()),
            "served_units": float(r["served_sku"].sum()),
            "backorders_open_end": float(r["backlog_end"]),
            "lost_units_not_waiting": float(r["not_waiting"].sum()),
            "lost_units_delisted": float(r["delisted"].sum()),
            "lost_units_out_of_stock": float(
                (demand_sku - r["served_sku"] - r["not_waiting"] - r["delisted"]).sum()
                - r["backlog_end"]
            ),
        }
        summary["total_cost"] = (
            sum(
                summary[k]
                for k in ("holding_cost", "lost_margin", "transfer_cost", "clearance_cost")
            )
            + summary["slow_stock_writedown"]
        )
        summary_rows.append(summary)
        per_sku_parts.append(
            pd.DataFrame(
                {
                    "sku_id": skus,
                    "policy": policy,
                    "pooled": pooled if policy == "predictor" else False,
                    "demand_units": demand_sku,
                    "served_units": r["served_sku"],
                    "end_stock": r["end_stock"],
                    "weeks_of_cover_end": cover,
                    "slow_mover_end": slow_end,
                }
            )
        )
        daily_parts.append(
            pd.DataFrame(
                {
                    "ds": periods,
                    "policy": policy,
                    "inventory_value": r["value_path"],
                    "demand_units": d.sum(axis=0),
                    "served_units": r["served_path"],
                }
            )
        )
    return SimulationResult(
        pd.DataFrame(summary_rows)[["policy", *METRICS]],
        pd.concat(per_sku_parts, ignore_index=True),
        pd.concat(daily_parts, ignore_index=True),
        period_days,
    )


def _replay(
    d: np.ndarray,
    sku_of: np.ndarray,
    in_pool: np.ndarray,
    up_to: np.ndarray,
    stock0: np.ndarray | None,
    pool_up_to: np.ndarray,
    display: np.ndarray,
    idle: np.ndarray,
    wait: np.ndarray,
    keep: np.ndarray,
    upstream: tuple[np.ndarray, np.ndarray],
    cost: np.ndarray,
    leads: tuple[int, int, np.ndarray],
    rate_per_period: float,
    cfg: PolicyConfig,
) -> dict[str, Any]:
    n_series, n_periods = d.shape
    n_skus = len(in_pool)
    review, lead_store, lead_central = leads
    pooled_series = in_pool[sku_of]
    transfer_unit = cost * cfg.transfer_cost_rate + cfg.transfer_cost_fixed
    local_up_to = np.where(pooled_series, 0.0, up_to)
    pool_target = np.where(in_pool, pool_up_to, 0.0)
    # ``up``: the stock upstream of each SKU, its pool if pooled, else its warehouse
    pipe, up, local, moved, cleared = initial_stock(
        in_pool, pool_target, upstream, lead_central, stock0, sku_of, keep, local_up_to
    )
    ring = len(pipe)
    up_target = np.where(in_pool, pool_target, upstream[0])
    transfer = float((moved * transfer_unit).sum())
    clearance = float((cleared * cost * cfg.clearance_loss_rate).sum())
    backlog = np.zeros(n_skus)
    patient = in_pool & (pool_target > 0)  # a delisted SKU's buyers are not served later
    local_pipe = np.zeros((lead_store, n_series))
    every_sku = np.arange(n_skus)
    served_sku = np.zeros(n_skus)
    static_units = display + idle
    units_path = np.zeros(n_periods)
    value_path = np.zeros(n_periods)
    served_path = np.zeros(n_periods)
    delisted = np.zeros(n_skus)
    holding = 0.0
    cost_series = cost[sku_of]
    for t in range(n_periods):
        local += local_pipe[t % lead_store]
        local_pipe[t % lead_store] = 0.0
        up += pipe[t % ring]
        pipe[t % ring] = 0.0
        dt = d[:, t]
        served_local = np.where(pooled_series, 0.0, np.minimum(local, dt))
        local -= served_local
        pool_raw = np.bincount(sku_of, weights=np.where(pooled_series, dt, 0.0), minlength=n_skus)
        due = backlog + pool_raw * (1.0 - wait)
        served_pool = np.minimum(up, due)  # due only for pooled SKUs
        up -= served_pool
        delisted += np.where(in_pool & ~patient, due - served_pool, 0.0)
        backlog = np.where(patient, due - served_pool, 0.0)
        transfer += float((served_pool * transfer_unit).sum())
        served = np.bincount(sku_of, weights=served_local, minlength=n_skus) + served_pool
        served_sku += served
        served_path[t] = served.sum()
        if t % review == 0:  # order up to the target, arriving after the lead time
            want = np.maximum(local_up_to - local - local_pipe.sum(axis=0), 0.0)
            wanted = np.bincount(sku_of, weights=want, minlength=n_skus)
            # a warehouse short of stock ships each node the same share of its order
            share = np.minimum(1.0, np.divide(up, wanted, out=np.ones(n_skus), where=wanted > 0))
            local_pipe[(t + lead_store) % lead_store] += want * share[sku_of]
            up -= wanted * share
            order = np.maximum(up_target - (up + pipe.sum(axis=0) - backlog), 0.0)
            pipe[(t + lead_central) % ring, every_sku] += order
        local_value = float((local * cost_series).sum())
        pool_value = float((up * cost).sum())
        static_value = float((static_units * cost).sum())
        units_path[t] = local.sum() + up.sum() + static_units.sum()
        value_path[t] = local_value + pool_value + static_value
        holding += rate_per_period * (
            local_value + static_value + pool_value * cfg.upstream_holding_factor
        )
    return {
        "served_sku": served_sku,
        # pooled demand of buyers who would not wait: the wait share of all of it
        "not_waiting": np.bincount(
            sku_of, weights=np.where(pooled_series, d.sum(axis=1), 0.0), minlength=n_skus
        )
        * wait,
        "delisted": delisted,
        "end_stock": np.bincount(sku_of, weights=local, minlength=n_skus) + up + static_units,
        "units_path": units_path,
        "value_path": value_path,
        "served_path": served_path,
        "holding": holding,
        "transfer": transfer,
        "clearance": clearance,
        "backlog_end": float(backlog.sum()),
    }
