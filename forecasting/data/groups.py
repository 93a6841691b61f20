"""Group sums on integer codes: the sales may be tens of millions of rows, and a pandas
groupby on (sku_id, ds) would hash every row again and hold several copies."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Largest (groups x days) grid `per_period` sums on directly, without hashing.
DENSE_CELLS = 1 << 24
DAY_NS = 86_400 * 10**9


def per_period(
    group: np.ndarray, n_groups: int, day: np.ndarray, values: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Rows summed per (group, date): (group, date as int64 ns, the sums of each of
    ``values``), one row per pair present, sorted by group then date.

    Dates on whole days whose (groups x days) grid is small index a dense grid (no hashing);
    others are factorized.
    """
    if not len(day):
        return group, day, values
    lo = int(day.min())
    span = (int(day.max()) - lo) // DAY_NS + 1
    offset = day - lo
    if n_groups * span <= max(DENSE_CELLS, 4 * len(day)) and not (offset % DAY_NS).any():
        cell = group.astype(np.int64) * span + offset // DAY_NS
        present = np.flatnonzero(np.bincount(cell, minlength=n_groups * span))
        sums = [np.bincount(cell, v, n_groups * span)[present] for v in values]
        return present // span, lo + (present % span) * DAY_NS, sums
    day_code, days = pd.factorize(day, sort=True)
    pair, pairs = pd.factorize(group.astype(np.int64) * len(days) + day_code, sort=True)
    sums = [np.bincount(pair, v, len(pairs)) for v in values]
    return pairs // len(days), np.asarray(days)[pairs % len(days)], sums


def group_codes(sales: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Per row the code of its group of ``keys`` (groups in sorted order), and the groups'
    key values as text."""
    code = np.zeros(len(sales), dtype=np.int64)
    levels = []
    for k in keys:
        col = sales[k]
        if isinstance(col.dtype, pd.CategoricalDtype) and not col.isna().any():
            # the category codes as they are (small ints): no hashing of the rows
            col = col.cat.set_categories(sorted(col.cat.categories))
            c, uniques = col.cat.codes.to_numpy(), col.cat.categories
        else:
            c, uniques = pd.factorize(col, sort=True)
        levels.append(np.asarray(uniques, dtype=object))
        code *= len(uniques)
        code += c
    space = int(np.prod([len(u) for u in levels], dtype=np.int64))
    if space <= max(DENSE_CELLS, 4 * len(code)):  # a dense map of the codes, no hashing
        present = np.bincount(code, minlength=space) > 0
        combos = np.flatnonzero(present)
        group = (np.cumsum(present) - 1)[code]
    else:
        group, combos = pd.factorize(code, sort=True)
    names = {}
    for k, values in zip(reversed(keys), reversed(levels), strict=True):
        names[k] = values[combos % len(values)]
        combos = combos // len(values)
    return group, pd.DataFrame({k: names[k] for k in keys})
