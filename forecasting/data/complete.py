"""Sparse sales made complete: the one reading of "a missing day means no sales".

DESIGN.md lets a sales table leave out the periods without sales (between a series' first
sale and the end of the data) and promises that dense and sparse tables give the same
results. Everything that counts periods (the Syntetos-Boylan ADI, the share of days with a
sale, TSB's demand probability, the last stock level) reads the sales through
`complete_sales`, which adds those periods back:

* each series runs from its first sale to the last period of the whole table; rows
  before its first sale are dropped (the product was not on sale yet, and a sparse table
  cannot have them), as the forecaster's panel does;
* an added period has ``y = 0`` and ``promo = 0``; ``price`` and ``on_hand`` carry the
  series' last known value forward (nothing was sold, so the stock is unchanged);
* a series without any sale is kept as given (its rows may say how much stock it holds).

The grain (days, weeks, months) is the table's own: read from its dates, or given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecasting.data.groups import DAY_NS, group_codes

Grain = Literal["D", "W", "M"]
#: Columns carried forward into an added period; the other optional columns become 0.
CARRIED = ("price", "on_hand")


def sales_grain(ds: pd.Series) -> Grain:
    """The grain of a table's dates: ``M`` when they are all first (or all last) days of a
    month, ``W`` when at least three distinct dates fall on one weekday, else ``D``."""
    dates = pd.DatetimeIndex(pd.unique(ds.dropna()))
    if len(dates) < 2 or (dates != dates.normalize()).any():
        return "D"
    if dates.is_month_start.all() or dates.is_month_end.all():
        return "M"
    if len(dates) >= 3 and (dates.dayofweek == dates[0].dayofweek).all():
        return "W"
    return "D"


def complete_sales(sales: pd.DataFrame, grain: Grain | None = None) -> pd.DataFrame:
    """``sales`` (validated: canonical dtypes, one row per key) with every period of every
    series from its first sale to the table's last period (see the module's docstring).

    Returns ``sales`` itself when nothing is missing or before a first sale (a dense table
    costs one pass over integer codes), else a new table sorted by series and date with
    the same columns.
    """
    if sales.empty:
        return sales
    grain = grain or sales_grain(sales["ds"])
    group, names = group_codes(sales, ["sku_id", "channel"])
    n = len(names)
    period, to_dates = _periods(sales["ds"], grain)
    sold = sales["y"].to_numpy(dtype="float64") > 0
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, group[sold], period[sold])
    has_sale = first < np.iinfo(np.int64).max
    end = int(period.max())
    keep = ~has_sale[group] | (period >= first[group])
    expected = np.where(has_sale, end - first + 1, 0)
    present = np.bincount(group[keep & has_sale[group]], minlength=n)
    if keep.all() and np.array_equal(present, expected):
        return sales
    return _filled(sales, keep, group, period, first, has_sale, end, to_dates, names)


def _periods(ds: pd.Series, grain: Grain) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """(an integer period number per row, a function from period numbers back to dates)."""
    if grain == "M":
        dt = pd.DatetimeIndex(ds)
        number = (dt.year.to_numpy() * 12 + dt.month.to_numpy() - 1).astype(np.int64)
        at_end = bool(dt.is_month_end.all()) and not bool(dt.is_month_start.all())

        def months(p: np.ndarray) -> np.ndarray:
            month = (p - 1970 * 12).astype("datetime64[M]")  # months since 1970-01
            start = pd.DatetimeIndex(month.astype("datetime64[ns]"))
            return (start + pd.offsets.MonthEnd(0) if at_end else start).to_numpy()

        return number, months
    step = 7 if grain == "W" else 1
    day = ds.to_numpy(dtype="datetime64[ns]").view("int64") // DAY_NS
    anchor = int(day.min()) % step

    def days(p: np.ndarray) -> np.ndarray:
        return ((p * step + anchor) * DAY_NS).astype("datetime64[ns]")

    return (day - anchor) // step, days


def _filled(
    rows: pd.DataFrame,
    keep: np.ndarray,
    group: np.ndarray,
    period: np.ndarray,
    first: np.ndarray,
    has_sale: np.ndarray,
    end: int,
    to_dates: Callable[[np.ndarray], np.ndarray],
    names: pd.DataFrame,
) -> pd.DataFrame:
    """The complete grid of the series with a sale (their ``keep`` rows placed on it), then
    the rows of the others as given.

    Built column by column in the caller's dtypes (IDs as category codes, flags as flags):
    the grid may be tens of millions of rows, and object IDs cost ~7 GiB per 20 M rows."""
    sold = np.flatnonzero(has_sale)
    length = end - first[sold] + 1
    start = np.cumsum(length) - length
    total = int(length.sum())
    grid_group = np.repeat(sold, length)
    grid_period = np.arange(total) - np.repeat(start - first[sold], length)
    slot_of = np.zeros(len(has_sale), dtype=np.int64)
    slot_of[sold] = start
    on_grid = keep & has_sale[group]
    g = group[on_grid]
    slot = slot_of[g] + (period[on_grid] - first[g])
    del g
    unsold = ~has_sale[group]
    rest = rows[unsold] if unsold.any() else rows.iloc[:0]
    grid: dict[str, Any] = {}
    for col in rows.columns:
        if col in ("sku_id", "channel"):
            grid[col] = _key_column(rows[col], names[col].to_numpy(dtype=object), grid_group)
        elif col == "ds":
            grid[col] = to_dates(grid_period)
        else:
            values = rows[col].to_numpy()[on_grid]
            grid[col] = _value_column(col, values, slot, total, start)
    out = pd.DataFrame(grid, copy=False)
    if len(rest):
        out = pd.concat([out, rest], ignore_index=True)
    for col in rows.columns:  # the caller's dtypes back (nullable or mixed columns)
        if out[col].dtype != rows[col].dtype:
            try:
                out[col] = out[col].astype(rows[col].dtype)
            except (TypeError, ValueError):
                continue
    return out


def _key_column(given: pd.Series, names: np.ndarray, grid_group: np.ndarray) -> Any:
    """An ID column of the grid: the caller's categories when it has them, else text."""
    if isinstance(given.dtype, pd.CategoricalDtype):
        codes = given.cat.categories.get_indexer(pd.Index(names))
        return pd.Categorical.from_codes(codes[grid_group], dtype=given.dtype)
    return names[grid_group]


def _value_column(
    col: str, values: np.ndarray, slot: np.ndarray, total: int, start: np.ndarray
) -> np.ndarray:
    """A value column of the grid: added periods get 0 (``y``, ``promo``), the series' last
    known value (`CARRIED`), or none (other columns)."""
    kind = values.dtype.kind
    if col not in ("y", "promo") or kind not in "biuf":
        numeric = kind in "biuf"
        arr = np.full(total, np.nan if numeric else None, dtype="float64" if numeric else object)
        arr[slot] = values
        if col in CARRIED:
            arr = _carry_forward(arr, start)
        return arr
    arr = np.zeros(total, dtype=values.dtype)
    arr[slot] = values
    return arr


def _carry_forward(arr: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Each missing value replaced by the last known one of its series (rows sorted by
    series, ``start`` the first row of each): a running maximum of the known positions, as
    a groupby().ffill() would give without its per-group copies."""
    known = ~pd.isna(arr)
    pos = np.where(known, np.arange(len(arr)), -1)
    np.maximum.accumulate(pos, out=pos)
    series_start = np.zeros(len(arr), dtype=np.int64)
    series_start[start] = start
    np.maximum.accumulate(series_start, out=series_start)
    out = arr.copy()
    fill = ~known & (pos >= series_start)
    out[fill] = arr[pos[fill]]
    return out
