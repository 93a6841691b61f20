"""Out-of-stock periods: demand that was not observed.

DESIGN.md: ``on_hand`` in the sales is the stock at the end of a period, and a period with
``on_hand == 0`` is out of stock, its demand not observed. A popular item that was out of
stock 40% of the time is not an intermittent one, and one restocked after three weeks out
has not stopped selling. Two readings of such periods, for two kinds of user:

* `uncensor` (the forecaster, the stocking sigma): ``y`` on an out-of-stock period becomes
  the series' demand estimated from its in-stock periods (their mean over the preceding
  `WINDOW_DAYS`, else over all of them), never below what was sold. The difference is the
  estimated lost sales.
* `observed` (demand classes, sale frequency, slow-mover rules): out-of-stock periods
  without a sale are left out, as periods nothing can be learnt from. A period that sold
  out (a sale, then ``on_hand == 0``) still says that a sale happened.

A daily inventory history (the inventory table with several ``ds`` per series) can give
the sales their ``on_hand`` (`with_stock_history`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.complete import complete_sales
from forecasting.data.groups import group_codes
from forecasting.periods import median_step_days

#: In-stock history the demand of an out-of-stock period is estimated from, in days.
WINDOW_DAYS = 56
#: Per series (`uncensor`'s summary) and per SKU (`per_sku`): what the stockouts cost.
SUMMARY_COLUMNS = ("periods", "stockout_periods", "lost_units")


def out_of_stock(sales: pd.DataFrame) -> np.ndarray:
    """Per row: the period ended with ``on_hand == 0`` (False without an ``on_hand``)."""
    if "on_hand" not in sales.columns:
        return np.zeros(len(sales), dtype=bool)
    on_hand = sales["on_hand"].to_numpy(dtype="float64", na_value=np.nan)
    return on_hand == 0


def has_stockouts(sales: pd.DataFrame) -> bool:
    return bool(out_of_stock(sales).any())


def observed(sales: pd.DataFrame) -> pd.DataFrame:
    """The complete sales (`complete_sales`) without the out-of-stock periods that had no
    sale: the periods whose demand was seen."""
    sales = complete_sales(sales)
    unseen = out_of_stock(sales) & (sales["y"].to_numpy(dtype="float64") <= 0)
    return sales[~unseen] if unseen.any() else sales


def uncensor(
    sales: pd.DataFrame, window_days: int = WINDOW_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the complete sales with ``y`` on out-of-stock periods replaced by estimated demand,
    per series ``sku_id, channel, periods, stockout_periods, lost_units``).

    Without an out-of-stock period the sales come back as given. The estimate is the mean
    of the series' in-stock periods in the ``window_days`` before (a trailing window, so a
    backtest origin only sees the past), else of all its in-stock periods, else what was
    sold; a period that sold out keeps at least its sales."""
    if not has_stockouts(sales):
        return sales, _summary(sales, np.zeros(len(sales), dtype=bool), np.zeros(len(sales)))
    sales = complete_sales(sales)
    group, _ = group_codes(sales, ["sku_id", "channel"])
    day = sales["ds"].to_numpy(dtype="datetime64[ns]").view("int64")
    order = np.lexsort((day, group))
    g = group[order]
    y = sales["y"].to_numpy(dtype="float64")[order]
    oos = out_of_stock(sales)[order]
    seen = ~oos
    # a trailing window as differences of running sums over rows sorted by series and date,
    # all series at once (a groupby().rolling() would loop in Python per series)
    step = median_step_days(sales["ds"])
    width = max(round(window_days / step), 1)
    csum_y = np.concatenate([[0.0], np.cumsum(np.where(seen, y, 0.0))])
    csum_n = np.concatenate([[0], np.cumsum(seen)])
    idx = np.arange(len(g))
    lo = np.maximum(idx - width, np.searchsorted(g, g, side="left"))
    n_before = csum_n[idx] - csum_n[lo]
    n = int(g.max()) + 1 if len(g) else 0
    total_n = np.bincount(g, seen, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        everything = np.bincount(g, np.where(seen, y, 0.0), n) / total_n
        trailing = (csum_y[idx] - csum_y[lo]) / n_before
    estimate = np.where(n_before > 0, trailing, np.where(total_n[g] > 0, everything[g], y))
    filled = np.where(oos, np.maximum(y, estimate), y)
    new_y = np.empty_like(filled)
    new_y[order] = filled
    lost = np.empty_like(filled)
    lost[order] = filled - y
    out = sales.assign(y=new_y)
    return out, _summary(sales, out_of_stock(sales), lost)


def _summary(sales: pd.DataFrame, oos: np.ndarray, lost: np.ndarray) -> pd.DataFrame:
    group, names = group_codes(sales, ["sku_id", "channel"])
    n = len(names)
    return names.assign(
        periods=np.bincount(group, minlength=n).astype("int64"),
        stockout_periods=np.bincount(group, oos, n).astype("int64"),
        lost_units=np.bincount(group, lost, n),
    )


def stockout_totals(per_series: pd.DataFrame) -> dict[str, float]:
    """`uncensor`'s per-series summary in four numbers (logged by the pipelines): series
    with an out-of-stock period, those periods, their share of all periods and the
    estimated units lost."""
    periods = int(per_series["periods"].sum())
    out = int(per_series["stockout_periods"].sum())
    return {
        "series_with_stockouts": int((per_series["stockout_periods"] > 0).sum()),
        "stockout_periods": out,
        "stockout_share": round(out / max(periods, 1), 6),
        "lost_units": round(float(per_series["lost_units"].sum()), 3),
    }


def per_sku(summary: pd.DataFrame) -> pd.DataFrame:
    """`uncensor`'s per-series summary summed per SKU, with ``stockout_share`` (out-of-stock
    periods over all the SKU's series' periods), indexed by ``sku_id``."""
    sums = summary.groupby("sku_id", observed=True)[list(SUMMARY_COLUMNS)].sum()
    sums["stockout_share"] = (sums["stockout_periods"] / sums["periods"].replace(0, np.nan)).fillna(
        0.0
    )
    return sums


def with_stock_history(sales: pd.DataFrame, inventory: pd.DataFrame | None) -> pd.DataFrame:
    """Sales with ``on_hand`` from an inventory history (several ``ds`` per series) where
    the sales' own ``on_hand`` is empty; the sales as given for a snapshot (one ``ds``)."""
    if inventory is None or "ds" not in inventory.columns or inventory.empty:
        return sales
    dates = inventory.groupby(["sku_id", "channel"], observed=True)["ds"].nunique()
    if not len(dates) or int(dates.max()) < 2:
        return sales
    history = (
        inventory.groupby(["sku_id", "channel", "ds"], observed=True)["on_hand"].sum().reset_index()
    )
    keys = ["sku_id", "channel", "ds"]
    as_text = {"sku_id": "object", "channel": "object"}
    left = sales[keys].astype(as_text)
    right = history.astype(as_text)
    found = left.merge(right, on=keys, how="left")["on_hand"].to_numpy(dtype="float64")
    if "on_hand" in sales.columns:
        own = sales["on_hand"].to_numpy(dtype="float64", na_value=np.nan)
        found = np.where(np.isnan(own), found, own)
    return sales.assign(on_hand=found)
