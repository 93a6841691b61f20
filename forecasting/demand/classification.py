"""Demand classification: Syntetos-Boylan classes, ABC and recency, per series or per SKU.

ADI (average demand interval) is the number of periods from a series' first sale to the end
of the data divided by the number of periods with a sale; CV^2 is the squared coefficient of
variation (population variance) of the non-zero demand sizes. Syntetos, Boylan & Croston
(2005) cut-offs: ADI 1.32 and CV^2 0.49.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.data.groups import group_codes, per_period
from forecasting.data.stockouts import observed

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
#: The class of a series without any sale.
NO_DEMAND = "no_demand"


def syntetos_boylan(adi: np.ndarray | pd.Series, cv2: np.ndarray | pd.Series) -> np.ndarray:
    """Map ADI and CV^2 to smooth / erratic / intermittent / lumpy (``no_demand`` for NaN ADI)."""
    adi_a = np.asarray(adi, dtype="float64")
    cv2_a = np.asarray(cv2, dtype="float64")
    frequent = adi_a < ADI_CUTOFF
    variable = cv2_a >= CV2_CUTOFF
    out = np.select(
        [frequent & ~variable, frequent & variable, ~frequent & ~variable],
        ["smooth", "erratic", "intermittent"],
        default="lumpy",
    ).astype(object)
    out[~np.isfinite(adi_a)] = NO_DEMAND
    return out


def sb_statistics(
    group: np.ndarray, n: int, order: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """ADI and CV^2 per group, from rows with a group code, an ordering key (date or
    position) and demand: ``first`` (the key of the first sale), ``n_periods`` (rows from
    the first sale on), ``n_nonzero``, ``adi`` and ``cv2`` (NaN without a sale).

    The one computation behind `classify_demand` (a sales table) and `panel_classes` (the
    forecaster's gap-filled panel), with numpy group sums."""
    sold = y > 0
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, group[sold], order[sold])
    n_periods = np.bincount(group[order >= first[group]], minlength=n)
    n_nonzero = np.bincount(group[sold], minlength=n)
    size_sum = np.bincount(group[sold], y[sold], n)
    size_sq = np.bincount(group[sold], y[sold] ** 2, n)
    has_sale = n_nonzero > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        size_mean = np.where(has_sale, size_sum / n_nonzero, np.nan)
        # population variance of the demand sizes, clipped at 0 against rounding
        size_var = np.clip(size_sq / n_nonzero - size_mean**2, 0.0, None)
        adi = np.where(has_sale, n_periods / n_nonzero, np.nan)
        cv2 = size_var / size_mean**2
    return {
        "first": first,
        "n_periods": n_periods,
        "n_nonzero": n_nonzero,
        "adi": adi,
        "cv2": cv2,
    }


def panel_classes(
    panel: pd.DataFrame, keys: pd.DataFrame, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Syntetos-Boylan class of every series in ``keys`` (``no_demand`` without a sale)
    from the forecaster's panel (``unique_id`` codes, one row per period, gaps filled),
    from its periods up to ``until`` (all of them by default): what was known then."""
    if panel.empty:
        return pd.DataFrame({"unique_id": keys["unique_id"], "demand_class": NO_DEMAND})
    uid = panel["unique_id"].to_numpy()
    y = panel["y"].to_numpy(dtype="float64")
    if until is not None:  # masks on two arrays, no copy of the panel
        inside = panel["ds"].to_numpy() <= np.datetime64(until)
        uid, y = uid[inside], y[inside]
    sb = sb_statistics(uid, len(keys), np.arange(len(y)), y)
    classes = syntetos_boylan(sb["adi"], sb["cv2"])
    ids = keys["unique_id"].to_numpy()
    return pd.DataFrame({"unique_id": ids, "demand_class": classes[ids]})


def classify_demand(
    sales: pd.DataFrame,
    by: Sequence[str] = ("sku_id", "channel"),
    *,
    abc_cutoffs: tuple[float, float] = (0.8, 0.95),
) -> pd.DataFrame:
    """One row per group of ``by`` with ADI, CV^2, Syntetos-Boylan class, ABC and recency.

    ``sales`` follows the sales contract. With ``by=("sku_id",)`` the channels are summed per
    period first, which gives the SKU-total class used by the stocking decision. ABC ranks
    groups by revenue (``y * price``, a series' missing prices filled with its mean price)
    or by units when there are no prices. ``days_since_last_sale`` counts from the last date
    in the table. Out-of-stock periods (``on_hand == 0``) without a sale are left out.
    """
    keys = list(by)
    # a sparse table counts its missing periods as zeros; out-of-stock periods without a
    # sale are left out (their demand was not seen: DESIGN.md)
    sales = observed(sales)
    # numpy group sums on integer codes: the sales may be tens of millions of rows, and a
    # pandas groupby on (sku_id, ds) would hash every row again and hold several copies
    group, names = group_codes(sales, keys)
    n = len(names)
    y = sales["y"].to_numpy(dtype="float64")
    if "price" in sales.columns and sales["price"].notna().any():
        price = sales["price"].to_numpy(dtype="float64")
        known = ~np.isnan(price)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_price = np.bincount(group[known], price[known], n) / np.bincount(
                group[known], minlength=n
            )
        price = np.where(known, price, mean_price[group])
        revenue = y * np.nan_to_num(price, nan=0.0)
    else:
        revenue = y
    day = sales["ds"].to_numpy(dtype="datetime64[ns]").view("int64")
    if keys != ["sku_id", "channel"] and "channel" in sales.columns:
        # channels summed per period: one row per (group, period)
        group, day, (y, revenue) = per_period(group, n, day, [y, revenue])
    end = int(day.max())
    sb = sb_statistics(group, n, day, y)
    sold = y > 0
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, group[sold], day[sold])
    first, has_sale = sb["first"], sb["n_nonzero"] > 0
    adi, cv2, n_periods, n_nonzero = sb["adi"], sb["cv2"], sb["n_periods"], sb["n_nonzero"]
    first_sale = pd.to_datetime(np.where(has_sale, first, np.iinfo(np.int64).min))
    last_sale = pd.to_datetime(np.where(has_sale, last, np.iinfo(np.int64).min))
    stats = names.assign(
        demand_class=syntetos_boylan(adi, cv2),
        adi=adi,
        cv2=cv2,
        n_periods=n_periods.astype("int64"),
        n_nonzero=n_nonzero.astype("int64"),
        total_units=np.bincount(group, y, n),
        revenue=np.bincount(group, revenue, n),
        first_sale=first_sale,
        last_sale=last_sale,
    )
    stats["days_since_last_sale"] = (pd.Timestamp(end) - stats["last_sale"]).dt.days
    stats["abc"] = _abc(stats["revenue"].to_numpy(), abc_cutoffs)
    cols = [
        "demand_class",
        "adi",
        "cv2",
        "n_periods",
        "n_nonzero",
        "total_units",
        "revenue",
        "abc",
        "first_sale",
        "last_sale",
        "days_since_last_sale",
    ]
    return stats[[*keys, *cols]]


def _abc(revenue: np.ndarray, cutoffs: tuple[float, float]) -> np.ndarray:
    order = np.argsort(-revenue, kind="stable")
    total = revenue.sum()
    share = np.empty(len(revenue))
    cum = np.cumsum(revenue[order])
    # share of revenue *before* each item: the item that crosses a cut-off is still in the class
    share[order] = (cum - revenue[order]) / total if total > 0 else 1.0
    return np.where(share < cutoffs[0], "A", np.where(share < cutoffs[1], "B", "C")).astype(object)
