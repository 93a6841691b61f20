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
    in the table.
    """
    keys = list(by)
    has_price = "price" in sales.columns and sales["price"].notna().any()
    df = sales[[*keys, "ds", "y"]].copy()
    if has_price:
        price = sales["price"].astype("float64")
        price = price.fillna(
            price.groupby([sales[k] for k in keys], observed=True).transform("mean")
        )
        df["revenue"] = (sales["y"] * price.fillna(0.0)).to_numpy()
    else:
        df["revenue"] = sales["y"].to_numpy(dtype="float64")
    if keys != ["sku_id", "channel"] and "channel" in sales.columns:
        df = df.groupby([*keys, "ds"], sort=False, observed=True).sum().reset_index()
    end = df["ds"].max()
    grouped = df.groupby(keys, sort=True, observed=True)
    sold = df["y"].to_numpy() > 0
    first_sale = df["ds"].where(sold).groupby([df[k] for k in keys], observed=True).transform("min")
    active = (df["ds"] >= first_sale).to_numpy()
    stats = grouped.agg(total_units=("y", "sum"), revenue=("revenue", "sum"))
    nz = df.loc[sold, [*keys, "ds", "y"]].assign(y2=lambda d: d["y"] ** 2)
    nz_stats = nz.groupby(keys, sort=True, observed=True).agg(
        first_sale=("ds", "min"),
        last_sale=("ds", "max"),
        n_nonzero=("y", "size"),
        size_mean=("y", "mean"),
        size_sq_mean=("y2", "mean"),
    )
    # population variance of the demand sizes, clipped at 0 against rounding
    nz_stats["size_var"] = (nz_stats["size_sq_mean"] - nz_stats["size_mean"] ** 2).clip(lower=0)
    n_active = df.loc[active].groupby(keys, sort=True, observed=True).size().rename("n_periods")
    stats = stats.join(nz_stats).join(n_active)
    stats["n_nonzero"] = stats["n_nonzero"].fillna(0).astype("int64")
    stats["n_periods"] = stats["n_periods"].fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        stats["adi"] = np.where(
            stats["n_nonzero"] > 0, stats["n_periods"] / stats["n_nonzero"], np.nan
        )
        stats["cv2"] = stats["size_var"] / stats["size_mean"] ** 2
    stats["demand_class"] = syntetos_boylan(stats["adi"], stats["cv2"])
    stats["days_since_last_sale"] = (end - stats["last_sale"]).dt.days
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
    out = stats[cols].reset_index()
    for k in keys:  # categorical IDs in, text IDs out
        if isinstance(out[k].dtype, pd.CategoricalDtype):
            out[k] = out[k].astype(object)
    return out


def _abc(revenue: np.ndarray, cutoffs: tuple[float, float]) -> np.ndarray:
    order = np.argsort(-revenue, kind="stable")
    total = revenue.sum()
    share = np.empty(len(revenue))
    cum = np.cumsum(revenue[order])
    # share of revenue *before* each item: the item that crosses a cut-off is still in the class
    share[order] = (cum - revenue[order]) / total if total > 0 else 1.0
    return np.where(share < cutoffs[0], "A", np.where(share < cutoffs[1], "B", "C")).astype(object)
