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

from forecasting.policy.config import PolicyConfig

REASONS = ("excess_cover", "no_recent_sale", "decayed_demand")


def demand_probability(sales: pd.DataFrame, by: Sequence[str], alpha: float) -> pd.DataFrame:
    """TSB's smoothed demand probability per group now, and the long-run share of periods
    with a sale since the group's first sale.

    statsforecast's TSB gives forecasts, not the probability path, so the one-line recursion
    is run here as an exponentially weighted mean (pandas, vectorised over groups).
    """
    keys = list(by)
    daily = sales.groupby([*keys, "ds"], sort=True, observed=True)["y"].sum().reset_index()
    daily["occurred"] = (daily["y"] > 0).astype("float64")
    ewm = daily.groupby(keys, sort=True, observed=True)["occurred"].ewm(alpha=alpha, adjust=False)
    p = ewm.mean().reset_index(level=list(range(len(keys))), drop=True).sort_index()
    started = daily["occurred"].groupby([daily[k] for k in keys], observed=True).cummax() > 0
    # the long-run level is measured before the last 1/alpha periods, the smoother's memory
    old = daily["ds"] <= daily["ds"].max() - pd.Timedelta(days=int(1 / alpha))
    daily = daily.assign(p=p.to_numpy(), active=daily["occurred"].where(started & old))
    g = daily.groupby(keys, sort=True, observed=True)
    return pd.DataFrame(
        {"demand_prob_now": g["p"].last(), "demand_prob_longrun": g["active"].mean()}
    )


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
    end = sales["ds"].max()
    sold = sales[sales["y"] > 0]
    sale_days = sold.groupby(keys, observed=True)["ds"]
    last_sale = sale_days.max()
    span = (last_sale - sale_days.min()).dt.days
    interval = span / (sale_days.nunique() - 1).replace(0, np.nan)  # usual days between sales
    prob = demand_probability(sales, keys, config.decay_alpha)
    out = prob.copy()
    out["days_since_last_sale"] = (end - last_sale.reindex(out.index)).dt.days
    usual = config.no_sale_intervals * interval.reindex(out.index)
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
