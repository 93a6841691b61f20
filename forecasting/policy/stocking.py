"""Unified or tiered stocking per SKU, from expected costs (not from a rule on the class).

Per SKU over the horizon, vectorised over SKU x channel:

* **unified**: every stocking node of every channel of the network (``nodes_per_channel``:
  a store channel has many stores) holds its own safety stock ``z sigma sqrt(L_store)``
  plus half a review period of cycle stock, and at least one typical order (the SKU is
  stocked everywhere, also where it has not sold yet). Costs:
  holding at store rates and the margin of expected shortages (normal loss function).
* **tiered**: one pool upstream (central + regional) with pooled safety stock,
  ``sigma_pool = sqrt(sum sigma_i^2 + 2 sum rho sigma_i sigma_j)`` over the lead time to the
  warehouse, cheaper upstream holding, display units in a share of the nodes, a transfer
  cost per unit shipped and the margin of customers who will not wait for a delivery. How
  many will not wait grows with how habitual the purchase is: the SKU's share of days with a
  sale and its repurchase rate.

``reason`` names the cost term that decided: the largest saving of the chosen option.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from forecasting.errors import NetworkWarning
from forecasting.policy.config import PolicyConfig

COST_TERMS = ("holding", "shortage", "transfer", "wait_loss")


def sigma_from_quantiles(lo: pd.Series, hi: pd.Series, level: float) -> pd.Series:
    """Standard deviation implied by a central interval (normal approximation)."""
    z = norm.ppf(0.5 + level / 200)
    return ((hi - lo) / (2 * z)).clip(lower=0.0)


def stocking_costs(
    channels: pd.DataFrame, skus: pd.DataFrame, config: PolicyConfig, *, with_channels: bool = False
) -> Any:
    """Expected costs of both options per SKU and the cheaper one.

    ``channels``: ``sku_id, channel, mean_daily, sd_daily`` (forecast demand per day and its
    standard deviation). ``skus``: ``sku_id, unit_cost, sale_frequency`` (share of periods
    with a sale), ``order_size`` (mean units when it sells) and ``repurchase_rate``.
    Returns one row per SKU with ``expected_cost_unified``, ``expected_cost_tiered``, each
    term, ``stocking``, ``reason``, the units to hold at each tier and what a replay of the
    policy needs (``pool_units``, ``mean_daily``, ``pool_sd_daily``, ``display_units``,
    ``idle_units``, ``wait_share``).
    ``with_channels=True`` also returns each channel's unified order-up-to units
    (``sku_id, channel, nodes, mean_daily, sd_daily, min_stock, u_units``).
    """
    cfg = config
    out, ch = _unified(channels, skus, cfg)
    idle_units = out.pop("idle_units")
    info = skus.set_index("sku_id").reindex(out.index)
    freq = info["sale_frequency"].fillna(0.0).clip(0, 1).to_numpy()
    rep = info["repurchase_rate"].fillna(0.0).clip(0, 1).to_numpy()

    z, loss, years, cycles = _service_terms(cfg)
    # tiered: pooled safety stock upstream, display units, transfers, customers who won't wait
    rho = cfg.channel_correlation
    pool_sd = np.sqrt(out["sum_sd2"] + rho * (out["sum_sd"] ** 2 - out["sum_sd2"]))
    lead = np.full(len(out), cfg.central_lead_days)
    if "lead_time_days" in info.columns:  # the SKU table's supplier lead time, where given
        lead = info["lead_time_days"].fillna(cfg.central_lead_days).clip(lower=0).to_numpy()
    pool_sd_lt = pool_sd * np.sqrt(lead)
    pool_units = z * pool_sd_lt + out["mean_daily"] * cfg.review_days / 2
    display = out["showrooms"] * cfg.display_units
    unit_cost = out["unit_cost"]
    units_sold = out["mean_daily"] * cfg.horizon_days
    habit = np.minimum(rep / cfg.habit_repurchase_rate, 1.0) * np.minimum(freq * 2, 1.0)
    wait_share = cfg.wait_loss_rare + (cfg.wait_loss_frequent - cfg.wait_loss_rare) * habit
    t_holding = (
        (pool_units * cfg.upstream_holding_factor + display) * unit_cost * cfg.holding_rate * years
    )
    t_shortage = pool_sd_lt * loss * cycles * cfg.margin_rate * unit_cost
    t_transfer = units_sold * (cfg.transfer_cost_rate * unit_cost + cfg.transfer_cost_fixed)
    t_wait = wait_share * units_sold * cfg.margin_rate * unit_cost

    res = pd.DataFrame(index=out.index)
    res["unified_holding"] = out["u_holding"]
    res["unified_shortage"] = out["u_shortage"]
    res["unified_transfer"] = 0.0
    res["unified_wait_loss"] = 0.0
    res["tiered_holding"] = t_holding
    res["tiered_shortage"] = t_shortage
    res["tiered_transfer"] = t_transfer
    res["tiered_wait_loss"] = t_wait
    res["expected_cost_unified"] = res[[f"unified_{t}" for t in COST_TERMS]].sum(axis=1)
    res["expected_cost_tiered"] = res[[f"tiered_{t}" for t in COST_TERMS]].sum(axis=1)
    tiered = res["expected_cost_tiered"] < res["expected_cost_unified"]
    res["stocking"] = np.where(tiered, "tiered", "unified")
    res["reason"] = _reasons(res, tiered.to_numpy(), cfg.currency)
    regional = np.round(pool_units * cfg.regional_share)
    res["units_central"] = np.where(tiered, np.ceil(pool_units - regional), 0.0)
    res["units_regional"] = np.where(tiered, regional, 0.0)
    res["units_store"] = np.where(tiered, display, np.ceil(out["u_units"]))
    # what a replay of the policy needs (policy.simulation)
    res["pool_units"] = pool_units
    res["mean_daily"] = out["mean_daily"]
    res["pool_sd_daily"] = pool_sd
    res["display_units"] = display
    res["idle_units"] = idle_units
    res["wait_share"] = wait_share
    res["unit_cost"] = unit_cost
    res["lead_days"] = lead
    res = res.reset_index()
    if with_channels:
        cols = ["sku_id", "channel", "nodes", "mean_daily", "sd_daily", "min_stock", "u_units"]
        return res, ch[cols].reset_index(drop=True)
    return res


def _service_terms(cfg: PolicyConfig) -> tuple[float, float, float, float]:
    """(z of the service level, expected shortage per sigma and cycle, years and review
    cycles in the horizon)."""
    z = float(norm.ppf(cfg.service_level))
    loss = float(norm.pdf(z) - z * (1 - norm.cdf(z)))
    return z, loss, cfg.horizon_days / 365.0, cfg.horizon_days / cfg.review_days


def _unified(
    channels: pd.DataFrame, skus: pd.DataFrame, cfg: PolicyConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per SKU: demand, spreads and the unified option's units and costs, idle nodes of the
    network included; per SKU x channel: the unified order-up-to units)."""
    z, loss, years, cycles = _service_terms(cfg)
    nodes_of = cfg.network
    ch = channels.copy()
    ch["nodes"] = ch["channel"].map(nodes_of).fillna(1).astype("float64").to_numpy()
    _warn_unknown_channels(ch["channel"], nodes_of)
    cost = skus.set_index("sku_id")["unit_cost"].reindex(ch["sku_id"]).to_numpy()
    ch["unit_cost"] = np.where(np.isfinite(cost), cost, cfg.default_unit_cost)

    # unified: each node stocks for its share of the channel's demand, at least one unit
    node_mu = ch["mean_daily"] / ch["nodes"]
    node_sd = ch["sd_daily"] / np.sqrt(ch["nodes"])
    node_sd_lt = node_sd * np.sqrt(cfg.store_lead_days)
    by_sku = skus.set_index("sku_id")
    size = by_sku["order_size"].reindex(ch["sku_id"]).fillna(1.0).to_numpy()
    rare = by_sku["sale_frequency"].reindex(ch["sku_id"]).fillna(0.0).to_numpy() < 0.5
    # a node must be able to serve one typical order; for goods that sell most days the
    # size of a day's sales is no order size, and cycle stock covers an order anyway
    min_stock = np.where(rare, np.maximum(size, 1.0), 1.0)
    ch["min_stock"] = min_stock
    node_stock = np.maximum(z * node_sd_lt + node_mu * cfg.review_days / 2, min_stock)
    ch["u_units"] = node_stock * ch["nodes"]
    ch["u_holding"] = ch["u_units"] * ch["unit_cost"] * cfg.holding_rate * years
    ch["u_shortage"] = node_sd_lt * loss * cycles * ch["nodes"] * cfg.margin_rate * ch["unit_cost"]
    ch["sd2"] = ch["sd_daily"] ** 2
    physical = ch["channel"].isin(cfg.showroom_channels).to_numpy()
    ch["showrooms"] = np.ceil(ch["nodes"] * cfg.showroom_share) * physical
    g = ch.groupby("sku_id", sort=True, observed=True)
    out = pd.DataFrame(
        {
            "mean_daily": g["mean_daily"].sum(),
            "sum_sd": g["sd_daily"].sum(),
            "sum_sd2": g["sd2"].sum(),
            "unit_cost": g["unit_cost"].first(),
            "u_units": g["u_units"].sum(),
            "u_holding": g["u_holding"].sum(),
            "u_shortage": g["u_shortage"].sum(),
            "showrooms": g["showrooms"].sum(),
            "min_stock": g["min_stock"].first(),
            "network_nodes_used": g["nodes"].sum(),
        }
    )
    # "stocked everywhere": nodes of channels where the SKU has not sold yet hold it too
    network = float(sum(nodes_of.values()))
    idle_nodes = np.maximum(network - out["network_nodes_used"], 0.0)
    idle_units = idle_nodes * out["min_stock"]
    out["u_units"] += idle_units
    out["u_holding"] += idle_units * out["unit_cost"] * cfg.holding_rate * years
    out["idle_units"] = idle_units
    return out, ch


def _warn_unknown_channels(channel: pd.Series, network: dict[str, int]) -> None:
    """Say which channels of the data the network does not list, and what was assumed."""
    counts = channel[~channel.isin(list(network))].astype(str).value_counts()
    if counts.empty:
        return
    listed = ", ".join(f"'{c}' ({n} series)" for c, n in counts.head(5).items())
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    warnings.warn(
        f"channels not in the policy's network: {listed}{more}; each was stocked as 1 node "
        f"(the network lists {sorted(network)}; add them under [network] in --policy)",
        NetworkWarning,
        stacklevel=4,
    )


def _reasons(res: pd.DataFrame, tiered: np.ndarray, currency: str) -> np.ndarray:
    """One line per SKU: the chosen option, what it saves (the difference of the two totals,
    in cents of ``currency``), and the cost term that gains most."""
    gain = {  # positive: in favour of tiered
        t: (res[f"unified_{t}"] - res[f"tiered_{t}"]).to_numpy() for t in COST_TERMS
    }
    matrix = np.column_stack([gain[t] for t in COST_TERMS])
    sign = np.where(tiered, 1.0, -1.0)
    best = (matrix * sign[:, None]).argmax(axis=1)
    words = {
        "holding": ("less stock held upstream", "less stock held"),
        "shortage": ("fewer shortages upstream", "fewer shortages"),
        "transfer": ("no transfers", "no transfers"),
        "wait_loss": ("no customers lost to waiting", "no customers lost to waiting"),
    }
    out = np.empty(len(res), dtype=object)
    cu, ct = res["expected_cost_unified"].to_numpy(), res["expected_cost_tiered"].to_numpy()
    for i in range(len(res)):  # string formatting only; the decision above is vectorised
        term = COST_TERMS[best[i]]
        part = sign[i] * matrix[i, best[i]]
        if tiered[i]:
            head = f"tiered: saves {cu[i] - ct[i]:,.2f} {currency} (cost {ct[i]:,.2f} vs "
            head += f"{cu[i]:,.2f} unified)"
            term_words = words[term][0]
        else:
            head = f"unified: saves {ct[i] - cu[i]:,.2f} {currency} (cost {cu[i]:,.2f} vs "
            head += f"{ct[i]:,.2f} tiered)"
            term_words = words[term][1]
        out[i] = f"{head}; most from {term_words} ({part:,.2f})"
    return out
