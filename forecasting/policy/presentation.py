"""The decisions as a merchandiser reads them: money in cents of the policy's currency, units
to two decimals, weeks of cover capped, and SKUs without a repurchase history given the
population's rate, said in their reason and in one warning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecasting.errors import NewSkuWarning
from forecasting.policy.config import PolicyConfig

#: Weeks of cover at and above this (ten years; stock with no forecast demand is infinite)
#: are written as this, with ``weeks_of_cover_capped`` true.
COVER_CAP_WEEKS = 520.0

#: Decimals written per column: money in cents, units to two decimals, shares to four.
DECIMALS = {
    "expected_cost_unified": 2,
    "expected_cost_tiered": 2,
    "forecast_units": 2,
    "lost_sales_units": 2,
    "repurchase_rate": 4,
    "stockout_share": 4,
}


def with_population_rate(rate: pd.Series, known: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(``rate`` with each missing value replaced by the mean of ``known``, the SKUs' rates
    the predictor learned; which SKUs were filled). One `NewSkuWarning` says how many."""
    population = float(known.mean()) if known.notna().any() else np.nan
    new = rate.isna().to_numpy() & np.isfinite(population)
    if new.any():
        first = ", ".join(map(str, rate.index[new][:3]))
        warnings.warn(
            f"{int(new.sum())} SKUs without a purchase in the predictor's transactions "
            f"(e.g. {first}) were given the population's repurchase rate, "
            f"{population:.1%}; their reason says new_sku",
            NewSkuWarning,
            stacklevel=3,
        )
    return rate.fillna(population), new


def new_sku_note(out: pd.DataFrame, new: np.ndarray) -> pd.Series:
    """``out['reason']`` with a ``new_sku`` note on the SKUs `with_population_rate` filled."""
    rate = out["repurchase_rate"].map("{:.1%}".format)
    note = "; new_sku: no purchase history, the population's repurchase rate (" + rate + ") assumed"
    return out["reason"].where(~new, out["reason"] + note)


def readable(out: pd.DataFrame, config: PolicyConfig) -> pd.DataFrame:
    """``out`` with money to cents, units to two decimals, shares to four, the policy's
    ``currency`` and weeks of cover capped at `COVER_CAP_WEEKS` (``weeks_of_cover_capped``)."""
    out = out.copy()
    for col, decimals in DECIMALS.items():
        out[col] = out[col].astype("float64").round(decimals)
    cover = out["weeks_of_cover"].astype("float64")
    capped = (cover >= COVER_CAP_WEEKS).to_numpy()  # NaN (no stock data) is not capped
    out["weeks_of_cover"] = cover.clip(upper=COVER_CAP_WEEKS).round(1)
    out["weeks_of_cover_capped"] = capped
    out["currency"] = config.currency
    return out
