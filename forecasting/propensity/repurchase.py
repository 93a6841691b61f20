"""SKU repurchase rate: the share of a SKU's buyers who buy it again within N days.

Observed: among customers whose first purchase of the SKU in the data left N full days
before the cutoff, the share who bought the same SKU again within N days.
Predicted: that share shrunk toward the overall rate with a beta-binomial prior fitted by
the method of moments, so a SKU with three buyers does not get 0% or 100%. The stocking
decision uses the predicted rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.propensity.features import history_end


def sku_repurchase_rates(
    transactions: pd.DataFrame, cutoff: str | pd.Timestamp, horizon_days: int
) -> pd.DataFrame:
    """``sku_id, buyers, repurchasers, observed_rate, predicted_rate`` for every SKU bought
    up to the cutoff (SKUs whose buyers all arrived too late to judge get the prior rate)."""
    end = history_end(cutoff)
    tx = transactions.loc[transactions["ts"] < end, ["customer_id", "sku_id", "ts"]]
    days = tx.assign(day=tx["ts"].dt.normalize()).drop(columns="ts").drop_duplicates()
    days = days.sort_values(["sku_id", "customer_id", "day"])
    nth = days.groupby(["sku_id", "customer_id"], sort=False).cumcount().to_numpy()
    first = days[nth == 0].set_index(["sku_id", "customer_id"])["day"].rename("first")
    second = days[nth == 1].set_index(["sku_id", "customer_id"])["day"].rename("second")
    pairs = first.to_frame().join(second).reset_index()
    horizon = pd.Timedelta(days=horizon_days)
    judged = pairs["first"] + horizon < end
    pairs = pairs.assign(
        judged=judged,
        again=judged & (pairs["second"].notna()) & (pairs["second"] - pairs["first"] <= horizon),
    )
    per_sku = pairs.groupby("sku_id").agg(
        buyers=("judged", "sum"), repurchasers=("again", "sum"), all_buyers=("judged", "size")
    )
    n = per_sku["buyers"].to_numpy(dtype="float64")
    k = per_sku["repurchasers"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(n > 0, k / n, np.nan)
    a, b = _beta_prior(k, n)
    per_sku["observed_rate"] = observed
    per_sku["predicted_rate"] = (k + a) / (n + a + b)
    return per_sku.reset_index()[
        ["sku_id", "buyers", "repurchasers", "all_buyers", "observed_rate", "predicted_rate"]
    ]


def _beta_prior(k: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Beta(a, b) prior of the rates by the method of moments over SKUs with buyers."""
    ok = n > 0
    if not ok.any():
        return 1.0, 1.0
    rates = k[ok] / n[ok]
    mean = float(np.average(rates, weights=n[ok]))
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    var = float(np.average((rates - mean) ** 2, weights=n[ok]))
    # between-SKU variance net of the binomial noise of an average SKU
    noise = mean * (1 - mean) / max(float(np.mean(n[ok])), 1.0)
    spread = max(var - noise, 1e-6)
    strength = max(mean * (1 - mean) / spread - 1, 1.0)
    return mean * strength, (1 - mean) * strength
