"""Customer features at a cutoff and repurchase labels, without leakage.

A cutoff is a day and belongs to the history: `customer_features(tx, cutoff)` only reads
transactions before the end of the cutoff day; `repurchase_labels(tx, cutoff, N)` only reads
the N days after it. Everything is a vectorised groupby over customers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Windows (days before the cutoff) for the purchase-trend features.
TREND_WINDOWS = (30, 90, 180)


def history_end(cutoff: pd.Timestamp | str) -> pd.Timestamp:
    """The first instant after the cutoff day."""
    return pd.Timestamp(cutoff).normalize() + pd.Timedelta(days=1)


def customer_features(
    transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int = 90
) -> pd.DataFrame:
    """One row per customer with a purchase up to ``cutoff``, indexed by ``customer_id``.

    ``horizon_days`` sets the seasonal feature: purchase days in the same window one year
    (52 weeks) earlier, which is history at the cutoff.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    tx = transactions.loc[transactions["ts"] < history_end(cutoff)]
    day = tx["ts"].dt.normalize()
    cust = tx["customer_id"]
    amount = tx["amount"] if "amount" in tx.columns else tx["quantity"]
    g = tx.groupby(cust, sort=True)
    days = pd.DataFrame({"customer_id": cust.to_numpy(), "day": day.to_numpy()}).drop_duplicates()
    days = days.sort_values(["customer_id", "day"])
    gap = days.groupby("customer_id")["day"].diff().dt.days
    ipi = gap.groupby(days["customer_id"]).agg(["mean", "std", "median"])
    first = days.groupby("customer_id")["day"].min()
    last = days.groupby("customer_id")["day"].max()
    n_days = days.groupby("customer_id").size()
    end = cutoff.normalize()
    f = pd.DataFrame(index=first.index)
    f["recency_days"] = (end - last).dt.days
    f["tenure_days"] = (end - first).dt.days
    f["frequency"] = n_days - 1  # repeat purchase days
    f["n_lines"] = g.size()
    f["units"] = g["quantity"].sum()
    f["monetary_total"] = amount.groupby(cust).sum()
    f["monetary_per_day"] = f["monetary_total"] / n_days
    f["ipi_mean"] = ipi["mean"]
    f["ipi_std"] = ipi["std"]
    f["ipi_cv"] = ipi["std"] / ipi["mean"]
    f["recency_over_ipi"] = f["recency_days"] / ipi["median"]
    f["rate_per_30d"] = 30 * n_days / (f["tenure_days"] + 1)
    for w in TREND_WINDOWS:
        recent = days["day"] > end - pd.Timedelta(days=w)
        f[f"days_last_{w}d"] = recent.groupby(days["customer_id"]).sum()
    f["trend_90_vs_prev_90"] = f["days_last_90d"] - (f["days_last_180d"] - f["days_last_90d"])
    year_ago = end + pd.Timedelta(days=1) - pd.Timedelta(days=364)
    same_season = (days["day"] >= year_ago) & (
        days["day"] < year_ago + pd.Timedelta(days=horizon_days)
    )
    f["days_same_window_last_year"] = same_season.groupby(days["customer_id"]).sum()
    channels = tx.groupby([cust, tx["channel"]]).size()
    n_ch = channels.groupby(level=0).size()
    f["n_channels"] = n_ch
    f["top_channel_share"] = channels.groupby(level=0).max() / f["n_lines"]
    f["cross_channel"] = (n_ch > 1).astype("int8")
    f["n_skus"] = tx.groupby(cust)["sku_id"].nunique()
    if "category" in tx.columns:
        f["n_categories"] = tx.groupby(cust)["category"].nunique()
    f["repeat_sku_share"] = _repeat_sku_share(tx)
    month = cutoff.month
    f["cutoff_month_sin"] = np.sin(2 * np.pi * month / 12)
    f["cutoff_month_cos"] = np.cos(2 * np.pi * month / 12)
    f = f.fillna({"repeat_sku_share": 0.0})
    return f.astype("float64")


def _repeat_sku_share(tx: pd.DataFrame) -> pd.Series:
    """Share of a customer's purchase days of a SKU that repeat a SKU bought on an earlier day."""
    pairs = pd.DataFrame(
        {
            "customer_id": tx["customer_id"].to_numpy(),
            "sku_id": tx["sku_id"].to_numpy(),
            "day": tx["ts"].dt.normalize().to_numpy(),
        }
    ).drop_duplicates()
    pairs = pairs.sort_values(["customer_id", "sku_id", "day"])
    repeat = pairs.duplicated(["customer_id", "sku_id"], keep="first")
    return repeat.groupby(pairs["customer_id"]).mean()


def repurchase_labels(
    transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int
) -> pd.Series:
    """1 for customers with a purchase in the ``horizon_days`` days after the cutoff day."""
    start = history_end(cutoff)
    window = (transactions["ts"] >= start) & (
        transactions["ts"] < start + pd.Timedelta(days=horizon_days)
    )
    buyers = transactions.loc[window, "customer_id"].unique()
    return pd.Series(1, index=pd.Index(buyers, name="customer_id"), dtype="int8")
