"""The generator's customer transactions (`forecasting.data.synthetic`): one line per
order, summing exactly to the sales."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from forecasting.data.synthetic import Archetype, SyntheticConfig


def transactions_of(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    orders: np.ndarray,
    extra: np.ndarray,
    s_sku: np.ndarray,
    sku_col: np.ndarray,
    ch_col: np.ndarray,
    dates: pd.DatetimeIndex,
    price: np.ndarray,
    arch_of: list[Archetype],
    lam: np.ndarray,
) -> pd.DataFrame:
    """One line per order, quantities summing exactly to the sales of each series and day.

    Each SKU has a pool of repeat buyers sized so that each buys about every 30 days;
    a share of its orders (``loyal_share``) comes from that pool, the rest from a large
    population of occasional customers, so consumables are repurchased by the same people
    and durables almost never.
    """
    n_days = orders.shape[1]
    flat_orders = orders.ravel()
    cell = np.repeat(np.arange(flat_orders.size), flat_orders)  # cell (series*day) of each order
    n_orders = cell.size
    first = np.concatenate([[0], np.cumsum(flat_orders)[:-1]])
    flat_extra = extra.ravel()
    extra_cell = np.repeat(np.arange(flat_extra.size), flat_extra)
    pick = first[extra_cell] + np.floor(
        rng.random(extra_cell.size) * flat_orders[extra_cell]
    ).astype(np.int64)
    quantity = 1 + np.bincount(pick, minlength=n_orders)

    series = cell // n_days
    day = cell % n_days
    sku = s_sku[series]
    n_skus = cfg.n_skus
    n_general = cfg.n_general_customers or max(1000, 20 * n_skus)
    sku_rate = np.bincount(s_sku, weights=lam.mean(axis=1), minlength=n_skus)
    loyal_share = np.array([a.loyal_share for a in arch_of])
    pool = np.maximum(1, np.ceil(sku_rate * loyal_share * 30)).astype(np.int64)
    pool_start = n_general + np.concatenate([[0], np.cumsum(pool)[:-1]])
    loyal = rng.random(n_orders) < loyal_share[sku]
    customer = np.where(
        loyal,
        pool_start[sku] + np.floor(rng.random(n_orders) * pool[sku]).astype(np.int64),
        rng.integers(0, n_general, n_orders),
    )
    if cfg.channel_preference is not None:
        channel = np.unique(ch_col, return_inverse=True)[1][series]
        lo = np.where(loyal, pool_start[sku], 0)
        size = np.where(loyal, pool[sku], n_general)
        customer = _by_preference(cfg, customer, channel, lo, size, int(pool_start[-1] + pool[-1]))
    uniq, codes = np.unique(customer, return_inverse=True)
    width = len(str(int(uniq.max()))) + 1 if uniq.size else 1
    names = np.array([f"{c:0{width}d}" for c in uniq], dtype=object)  # leading zeros on purpose
    seconds = rng.integers(8 * 3600, 22 * 3600, n_orders)
    ts = dates.to_numpy()[day] + seconds.astype("timedelta64[s]")
    unit_price = price.ravel()[cell]
    tx = pd.DataFrame(
        {
            "customer_id": names[codes],
            "sku_id": sku_col[series],
            "channel": ch_col[series],
            "ts": ts.astype("datetime64[ns]"),
            "quantity": quantity.astype("float64"),
            "amount": np.round(quantity * unit_price, 2),
        }
    )
    return tx


def _by_preference(
    cfg: SyntheticConfig,
    customer: np.ndarray,
    channel: np.ndarray,
    lo: np.ndarray,
    size: np.ndarray,
    n_customers: int,
) -> np.ndarray:
    """Each order's customer redrawn from the same buyers (``lo`` .. ``lo + size``) with
    probability in proportion to their preference for the order's ``channel``: each
    customer's channel shares ~ Dirichlet(``cfg.channel_preference``).

    Rejection sampling (the first candidate is the uniform draw already made): a round
    accepts a candidate with probability its share, so the accepted are drawn in proportion
    to it. A stream of its own (seeded by ``cfg.seed``): the rest of the world stays as it
    is without preferences. After 200 rounds (an order in a channel its buyers hardly use)
    the last candidate stays."""
    rng = np.random.default_rng([cfg.seed, 19])
    n_ch = int(channel.max()) + 1 if channel.size else 1
    share = rng.dirichlet(np.full(n_ch, cfg.channel_preference), n_customers)
    out = customer.copy()
    todo = np.flatnonzero(rng.random(out.size) >= share[out, channel])
    for _ in range(200):
        if not todo.size:
            break
        out[todo] = lo[todo] + np.floor(rng.random(todo.size) * size[todo]).astype(np.int64)
        todo = todo[rng.random(todo.size) >= share[out[todo], channel[todo]]]
    return out
