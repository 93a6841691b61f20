"""Transactions -> sales at frequency D, W or M, zero periods filled (periods labelled by
their first day, `forecasting.periods`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from utilsforecast.preprocessing import fill_gaps

from forecasting.data.contracts import TRANSACTIONS, validate
from forecasting.periods import PANDAS_FREQ, check_freq, period_start


def transactions_to_sales(transactions: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Sum quantity per (sku_id, channel, period) and fill zero periods.

    Each series runs from its first sale to the last period of the whole table, so a
    series that stopped selling carries zeros to the end. When ``amount`` is present,
    ``price`` is the period's average unit price (null in periods without a sale).
    """
    check_freq(freq)
    tx = validate(transactions, TRANSACTIONS, "<transactions>")
    keys = ["sku_id", "channel"]
    work = pd.DataFrame(
        {
            "series": tx.groupby(keys, sort=True, observed=True).ngroup().to_numpy(),
            "ds": period_start(tx["ts"], freq).to_numpy(),
            "y": tx["quantity"].to_numpy(dtype="float64"),
        }
    )
    has_amount = "amount" in tx.columns
    if has_amount:
        work["amount"] = tx["amount"].to_numpy(dtype="float64")
    agg = work.groupby(["series", "ds"], sort=True).sum(min_count=1).reset_index()
    filled = fill_gaps(
        agg, freq=PANDAS_FREQ[freq], start="per_serie", end="global", id_col="series", time_col="ds"
    )
    filled["y"] = filled["y"].fillna(0.0)
    names = tx[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    codes = filled["series"].to_numpy()
    out = pd.DataFrame(
        {
            "sku_id": names["sku_id"].to_numpy()[codes],
            "channel": names["channel"].to_numpy()[codes],
            "ds": filled["ds"].to_numpy(),
            "y": filled["y"].to_numpy(),
        }
    )
    if has_amount:
        with np.errstate(divide="ignore", invalid="ignore"):
            price = filled["amount"].to_numpy() / filled["y"].to_numpy()
        out["price"] = np.where(filled["y"].to_numpy() > 0, price, np.nan)
    return out
