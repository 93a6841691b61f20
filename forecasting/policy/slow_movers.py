"""Slow movers: stock that will not sell through, with reason codes.

Per SKU (or SKU x channel), from the sales history, the stock on hand and the forecast:

* ``excess_cover``: weeks of cover (on hand / forecast weekly demand) above the threshold;
* ``no_recent_sale``: no sale for ``no_sale_days`` days while stock is held, or sooner
  when that is ``no_sale_intervals`` times its usual days between sales (at least
  ``no_sale_min_days``): a SKU that sold every other day and has not sold for three weeks;
* ``decayed_demand``: the probability of a sale in a period, smoothed as in TSB
  (``p <- p + alpha (1[y > 0] - p)``), has fallen below ``decay_ratio`` of its long-run
  level (the share of days with a sale from the first sale to 1/alpha days before the end)
  while stock is held.

Codes are joined with ``;`` in ``slow_mover_reason`` (empty for a healthy SKU).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.data.complete import complete_sales
from forecasting.data.groups import group_codes, per_period
from forecasting.policy.config import PolicyConfig

REASONS = ("excess_cover", "no_recent_sale", "decayed_demand")


def demand_probability(sales: pd.DataFrame, by: Sequence[str], alpha: float) -> pd.DataFrame:
    """TSB's smoothed demand probability per group now, and the long-run share of periods
    with a sale since the group's first sale (one row per group, indexed by ``by``)."""
    days = _group_days(sales, list(by))
    return pd.DataFrame(_probability(days, alpha), index=days.index)


class _GroupDays:
    """The sales summed per group of ``by`` and date: ``group`` code, ``day`` (int64 ns)
    and ``y`` per (group, date), sorted by group then date; ``index`` the groups."""

    def __init__(self, group: np.ndarray, day: np.ndarray, y: np.ndarray, index: pd.Index):
        self.group, self.day, self.y, self.index = group, day, y, index


def _group_days(sales: pd.DataFrame, keys: list[str]) -> _GroupDays:
    sales = complete_sales(sales)  # a sparse table counts its missing periods as zeros
    group, names = group_codes(sales, keys)
    day = sales["ds"].to_numpy(dtype="datetime64[ns]").view("int64")
    g, d, (y,) = per_period(group, len(names), day, [sales["y"].to_numpy(dtype="float64")])
    index = pd.MultiIndex.from_frame(names) if len(keys) > 1 else pd.Index(names[keys[0]])
    return _GroupDays(g, d, y, index)


def _probability(days: _GroupDays, alpha: float) -> dict[str, np.ndarray]:
    """TSB's probability recursion ``p <- p + alpha (1[y > 0] - p)`` from each group's first
    date (statsforecast's TSB gives forecasts, not this path), in closed form as a weighted
    sum: the last value of pandas' ``ewm(alpha, adjust=False)``, for every group in one
    vectorised pass instead of a groupby."""
    g, n = days.group, len(days.index)
    occurred = (days.y > 0).astype("float64")
    size = np.bincount(g, minlength=n)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    behind = (size[g] - 1) - (np.arange(len(g)) - start[g])  # dates after this one
    weight = alpha * (1.0 - alpha) ** behind
    first = np.arange(len(g)) == start[g]
    weight[first] = (1.0 - alpha) ** behind[first]
    now = np.bincount(g, weight * occurred, n)
    # the long-run level is measured before the last 1/alpha periods, the smoother's memory
    first_sale = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_sale, g[occurred > 0], days.day[occurred > 0])
    old = days.day <= days.day.max() - int(1 / alpha) * 86_400 * 10**9
    active = (days.day >= first_sale[g]) & old
    with np.errstate(invalid="ignore", divide="ignore"):
        longrun = np.bincount(g[active], occurred[active], n) / np.bincount(g[active], minlength=n)
    return {"demand_prob_now": now, "demand_prob_longrun": longrun}


def flag_slow_movers(
    sales: pd.DataFrame,
    stock: pd.DataFrame | None,
    weekly_forecast: pd.Series,
    config: PolicyConfig,
    by: Sequence[str] = ("sku_id",),
) -> pd.DataFrame:
    """One row per group with ``weeks_of_cover``, ``days_since_last_sale``, the demand
    probability now and in the long run, ``slow_mover`` and ``slow_mover_reason``.

    ``stock`` has the ``by`` columns and ``on_hand`` (None: no stock data, no flags that
    need stock); ``weekly_forecast`` is indexed like the groups.
    """
    keys = list(by)
    days = _group_days(sales, keys)
    n = len(days.index)
    sold = days.y > 0
    g, d = days.group[sold], days.day[sold]
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, g, d)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, g, d)
    n_sale_days = np.bincount(g, minlength=n)
    day_ns = 86_400 * 10**9
    with np.errstate(invalid="ignore", divide="ignore"):
        since = np.where(n_sale_days > 0, (days.day.max() - last) // day_ns, np.nan)
        # usual days between sales
        interval = np.where(n_sale_days > 1, (last - first) / day_ns / (n_sale_days - 1), np.nan)
    out = pd.DataFrame(_probability(days, config.decay_alpha), index=days.index)
    out["days_since_last_sale"] = since
    usual = pd.Series(config.no_sale_intervals * interval, index=out.index)
    no_sale_limit = usual.clip(lower=config.no_sale_min_days, upper=config.no_sale_days)
    no_sale_limit = no_sale_limit.fillna(config.no_sale_days)
    out["forecast_weekly"] = weekly_forecast.reindex(out.index).fillna(0.0)
    if stock is not None and len(stock):
        on_hand = stock.groupby(keys, observed=True)["on_hand"].sum().reindex(out.index)
    else:
        on_hand = pd.Series(np.nan, index=out.index)
    out["on_hand"] = on_hand
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(
            out["forecast_weekly"] > 0,
            on_hand / out["forecast_weekly"],
            np.where(on_hand > 0, np.inf, 0.0),
        )
    out["weeks_of_cover"] = np.where(on_hand.isna(), np.nan, cover)
    holding = (on_hand > 0).to_numpy()
    never = out["days_since_last_sale"].isna().to_numpy()
    flags = {
        "excess_cover": holding & (out["weeks_of_cover"].to_numpy() > config.max_weeks_of_cover),
        "no_recent_sale": holding
        & (never | (out["days_since_last_sale"] > no_sale_limit).to_numpy()),
        "decayed_demand": holding
        & (out["demand_prob_now"] < config.decay_ratio * out["demand_prob_longrun"]).to_numpy(),
    }
    codes = np.full(len(out), "", dtype=object)
    for name in REASONS:
        codes = np.where(flags[name], np.where(codes == "", name, codes + ";" + name), codes)
    out["slow_mover"] = codes != ""
    out["slow_mover_reason"] = codes
    return out.reset_index()
