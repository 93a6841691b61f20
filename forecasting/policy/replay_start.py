"""Where a replay of `forecasting.policy.simulation` starts: each channel's demand split
over its nodes, and the stock of nodes, pools and warehouses on the first period."""

from __future__ import annotations

import numpy as np


def split_demand(d: np.ndarray, n_nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(nodes x periods) demand: each series' units spread uniformly at random over its
    nodes (multinomial; the fractional part of a period's demand goes to one node)."""
    out = np.zeros((int(n_nodes.sum()), d.shape[1]))
    start = np.cumsum(n_nodes) - n_nodes
    whole = np.floor(d)
    frac = d - whole
    for k in np.unique(n_nodes):  # a few distinct node counts (one per channel)
        rows = np.flatnonzero(n_nodes == k)
        split = rng.multinomial(whole[rows].astype(np.int64), np.full(k, 1.0 / k))
        pick = rng.integers(0, k, size=frac[rows].shape)
        split = split.astype("float64")
        np.put_along_axis(
            split,
            pick[..., None],
            np.take_along_axis(split, pick[..., None], axis=2) + frac[rows][..., None],
            axis=2,
        )
        idx = start[rows][:, None] + np.arange(k)[None, :]  # (series, k) node rows
        out[idx.ravel()] = split.transpose(0, 2, 1).reshape(-1, d.shape[1])
    return out


def initial_stock(
    in_pool: np.ndarray,
    pool_target: np.ndarray,
    upstream: tuple[np.ndarray, np.ndarray],
    lead_central: np.ndarray,
    stock0: np.ndarray | None,
    sku_of: np.ndarray,
    keep: np.ndarray,
    local_up_to: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The stock at the start: (orders in transit by arrival period x SKU, the stock
    upstream per SKU (a pooled SKU's pool, else its warehouse), nodes, units moved up, units
    cleared). Every warehouse starts in steady state in
    both policies: its order-up-to position, the lead time's demand in transit (arriving
    evenly), the rest on hand; a delisted SKU's orders in transit are cancelled."""
    n_skus = len(in_pool)
    level, per_period = upstream
    in_transit = np.minimum(per_period * lead_central, level)
    ring = int(lead_central.max()) if n_skus else 1  # orders in transit, by arrival period
    arriving = np.where(
        np.arange(ring)[:, None] < lead_central[None, :], in_transit / lead_central, 0.0
    )
    on_hand = level - in_transit
    active = ~in_pool | (pool_target > 0)  # a delisted SKU's orders in transit are cancelled
    pipe = arriving * active
    pooled_series = in_pool[sku_of]
    if stock0 is None:  # no stock data: every policy starts at its own levels
        up = np.where(active, on_hand, 0.0)
        return pipe, up, local_up_to.copy(), np.zeros(n_skus), np.zeros(n_skus)
    # pooled SKUs: the channels' stock moves upstream (a transfer per unit) and joins the
    # warehouse's; what a slow mover holds beyond its level is cleared
    moved = np.bincount(sku_of, weights=np.where(pooled_series, stock0, 0.0), minlength=n_skus)
    held = moved + np.where(in_pool, on_hand, 0.0)
    pool = np.minimum(held, np.maximum(keep - pipe.sum(axis=0), 0.0))
    local = np.where(pooled_series, 0.0, stock0)
    return pipe, np.where(in_pool, pool, on_hand), local, moved, held - pool
