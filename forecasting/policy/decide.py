"""From forecasts, history, stock and SKU facts to one decision per SKU (DESIGN.md's output)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.complete import complete_sales
from forecasting.data.groups import group_codes
from forecasting.data.stockouts import per_sku, uncensor, with_stock_history
from forecasting.demand.classification import classify_demand
from forecasting.periods import days_per_row, median_step_days
from forecasting.policy.config import PolicyConfig
from forecasting.policy.presentation import new_sku_note, readable, with_population_rate
from forecasting.policy.slow_movers import flag_slow_movers
from forecasting.policy.stocking import sigma_from_quantiles, stocking_costs

#: The predictor's output columns, in DESIGN.md's order, then the tier units.
OUTPUT_COLUMNS = [
    "sku_id",
    "stocking",
    "slow_mover",
    "slow_mover_reason",
    "demand_class",
    "forecast_units",
    "weeks_of_cover",
    "repurchase_rate",
    "expected_cost_unified",
    "expected_cost_tiered",
    "reason",
    "units_central",
    "units_regional",
    "units_store",
    "hold_reason",
    "stockout_share",
    "lost_sales_units",
    "weeks_of_cover_capped",
    "currency",
]


#: Per-SKU columns of `plan` beyond the output: what a replay of the policy needs.
PLAN_COLUMNS = [
    "unit_cost",
    "mean_daily",
    "pool_sd_daily",
    "pool_units",
    "display_units",
    "idle_units",
    "wait_share",
    "lead_days",
]


def plan(
    forecast: pd.DataFrame,
    sales: pd.DataFrame,
    inventory: pd.DataFrame | None,
    sku_facts: pd.DataFrame,
    config: PolicyConfig,
    level: float = 80,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(decisions, channel plan): one row per SKU of ``sales`` with `OUTPUT_COLUMNS` and
    `PLAN_COLUMNS`, and per SKU x channel the unified order-up-to units (``u_units``).

    ``forecast``: the demand forecaster's output over the horizon, per period (``sku_id,
    channel, ds, forecast``, ``forecast-lo-{level}``, ``forecast-hi-{level}``) or per series
    (`DemandForecaster.predict_horizon`, see `channel_demand`). ``sku_facts``:
    ``sku_id`` with optional ``unit_cost``, ``repurchase_rate`` and ``lead_time_days``.
    Stock comes from ``inventory`` or, when absent, from an ``on_hand`` column of the
    sales' last day. ``sales`` may be dense or sparse (`complete_sales`).
    """
    sales = _categorical_ids(sales)  # hashed once; every groupby below works on codes
    given = with_stock_history(sales, inventory)  # a daily inventory gives on_hand
    sales = complete_sales(given)  # dense or sparse, the same periods from here on
    # out-of-stock periods: demand estimated for sigma, left out of classes and frequencies
    demand, stockouts = uncensor(sales)
    channels, horizon_units, span_days = channel_demand(forecast, level)
    # an 80% band says little about the spikes of intermittent demand (its 90% quantile is
    # often 0): sigma is at least the recent history's day-to-day standard deviation
    recent = history_sd_daily(demand, 4 * config.horizon_days)
    channels["sd_daily"] = np.fmax(
        channels["sd_daily"].to_numpy(),
        recent.reindex(pd.MultiIndex.from_frame(channels[["sku_id", "channel"]])).to_numpy(),
    )
    stats = classify_demand(sales, by=("sku_id",)).set_index("sku_id")
    facts = sku_facts.set_index("sku_id").reindex(stats.index)
    known_rate = sku_facts.get("repurchase_rate", pd.Series(dtype="float64"))
    rate, new_skus = with_population_rate(
        facts.get("repurchase_rate", pd.Series(np.nan, index=stats.index)), known_rate
    )
    skus = pd.DataFrame(
        {
            "sku_id": stats.index,
            "unit_cost": facts.get("unit_cost", pd.Series(np.nan, index=stats.index)).to_numpy(),
            "repurchase_rate": rate.to_numpy(),
            "lead_time_days": facts.get(
                "lead_time_days", pd.Series(np.nan, index=stats.index)
            ).to_numpy(),
            "sale_frequency": (1 / stats["adi"]).fillna(0.0).to_numpy(),
            "order_size": (stats["total_units"] / stats["n_nonzero"].replace(0, np.nan))
            .fillna(1.0)
            .to_numpy(),
        }
    )
    costs, channel_plan = stocking_costs(channels, skus, config, with_channels=True)
    costs = costs.set_index("sku_id")
    weekly = horizon_units / (span_days / 7.0 if span_days > 0 else config.horizon_days / 7.0)
    stock = _stock(sales, inventory)
    category = facts["category"] if "category" in facts.columns else None  # launches' peers
    if category is not None and category.isna().all():
        category = None
    # the rows as given: their prices and stock before a first sale say since when a SKU
    # was on sale (seasons)
    slow = flag_slow_movers(given, stock, weekly, config, category=category).set_index("sku_id")
    lost = per_sku(stockouts).reindex(stats.index)
    out = pd.DataFrame(index=stats.index)
    out["stocking"] = costs["stocking"]
    out["slow_mover"] = slow["slow_mover"].astype(bool)
    out["slow_mover_reason"] = slow["slow_mover_reason"]
    out["demand_class"] = stats["demand_class"]
    out["forecast_units"] = horizon_units.reindex(out.index).fillna(0.0)
    out["weeks_of_cover"] = slow["weeks_of_cover"]
    out["repurchase_rate"] = skus.set_index("sku_id")["repurchase_rate"]
    for col in [c for c in OUTPUT_COLUMNS if c in costs.columns and c not in out.columns]:
        out[col] = costs[col]
    out["hold_reason"] = slow["hold_reason"]
    out["stockout_share"] = lost["stockout_share"].fillna(0.0)
    out["lost_sales_units"] = lost["lost_units"].fillna(0.0)
    out["reason"] = new_sku_note(out.assign(reason=_reason(out, slow["season_weekly"])), new_skus)
    for col in PLAN_COLUMNS:
        out[col] = costs[col]
    out = readable(out.reset_index(), config)
    out["sku_id"] = out["sku_id"].astype(object)
    return out[[*OUTPUT_COLUMNS, *PLAN_COLUMNS]], channel_plan


def _reason(out: pd.DataFrame, season_weekly: pd.Series) -> pd.Series:
    """The stocking reason, then what makes the SKU slow, or why it looks slow but is not,
    then its stockouts: one line a merchandiser can read."""
    reason = out["reason"].where(
        ~out["slow_mover"],
        out["reason"] + "; slow mover: " + out["slow_mover_reason"].str.replace(";", ", "),
    )
    weeks = (out["forecast_units"] * 0 + season_weekly).round(1)  # aligned on sku_id
    held = out["hold_reason"]
    season = (
        "; not slow: seasonal_hold (off season; its coming season sold "
        + weeks.astype(str)
        + " units a week last year and the stock fits it)"
    )
    reason = reason.where(~held.str.contains("seasonal_hold"), reason + season)
    launch = (
        "; not slow: new_launch (first sale within the launch grace; cover judged on "
        "its expected mature rate)"
    )
    reason = reason.where(~held.str.contains("new_launch"), reason + launch)
    share = (100 * out["stockout_share"]).round(0).astype(int).astype(str)
    lost = out["lost_sales_units"].round(0).astype(int).astype(str)
    stockouts = (
        "; out of stock on " + share + "% of days (about " + lost + " units of "
        "demand lost; those days count as unseen demand, not zero)"
    )
    return reason.where(out["stockout_share"] <= 0, reason + stockouts)


def channel_demand(
    forecast: pd.DataFrame, level: float = 80
) -> tuple[pd.DataFrame, pd.Series, float]:
    """(per SKU x channel ``mean_daily`` and ``sd_daily``, units over the horizon per SKU,
    the horizon's days) from forecasts per period (a ``ds`` column) or per series over the
    horizon (``periods`` and ``days`` columns, the forecast and quantiles per period)."""
    lo, hi = forecast[f"forecast-lo-{level:g}"], forecast[f"forecast-hi-{level:g}"]
    if "ds" not in forecast.columns:
        per_period = forecast["days"] / forecast["periods"]
        units = forecast["forecast"] * forecast["periods"]
        channels = pd.DataFrame(
            {
                "sku_id": forecast["sku_id"].to_numpy(),
                "channel": forecast["channel"].to_numpy(),
                "mean_daily": (units / forecast["days"]).to_numpy(),
                "sd_daily": (sigma_from_quantiles(lo, hi, level) / np.sqrt(per_period)).to_numpy(),
            }
        )
        horizon_units = units.groupby(forecast["sku_id"].to_numpy()).sum()
        horizon_units.index.name = "sku_id"
        span = float(forecast["days"].max()) if len(forecast) else 0.0
        return channels, horizon_units, span
    days = days_per_row(forecast, ["sku_id", "channel"])
    per_day = forecast.assign(
        mean_daily=forecast["forecast"] / days,
        sd_daily=sigma_from_quantiles(lo, hi, level) / np.sqrt(days),
    )
    channels = per_day.groupby(["sku_id", "channel"], as_index=False, observed=True).agg(
        mean_daily=("mean_daily", "mean"), sd_daily=("sd_daily", "mean")
    )
    horizon_units = forecast.groupby("sku_id", observed=True)["forecast"].sum()
    span_days = float(
        days.groupby([forecast["sku_id"], forecast["channel"]], observed=True).sum().max()
    )
    return channels, horizon_units, span_days


def _categorical_ids(sales: pd.DataFrame) -> pd.DataFrame:
    return sales.assign(
        **{
            k: pd.Categorical(sales[k])
            for k in ("sku_id", "channel")
            if not isinstance(sales[k].dtype, pd.CategoricalDtype)
        }
    )


def history_sd_daily(sales: pd.DataFrame, window_days: int) -> pd.Series:
    """Per SKU x channel, the standard deviation of demand per day over the last
    ``window_days`` days of the data, days without a row counted as zero; rows coarser than
    a day (weeks, months: the median step between the table's dates) are taken as that
    many days of independent demand."""
    grain = median_step_days(sales["ds"])
    end = sales["ds"].max()
    recent = sales[sales["ds"] > end - pd.Timedelta(days=window_days)]
    n_rows = max(window_days / grain, 1.0)
    group, names = group_codes(recent, ["sku_id", "channel"])
    y = recent["y"].to_numpy(dtype="float64")
    mean = np.bincount(group, y, len(names)) / n_rows
    var_row = np.clip(np.bincount(group, y**2, len(names)) / n_rows - mean**2, 0.0, None)
    return pd.Series(np.sqrt(var_row / grain), index=pd.MultiIndex.from_frame(names))


def with_stock(sales: pd.DataFrame, inventory: pd.DataFrame) -> pd.DataFrame:
    """Sales with ``on_hand`` from the latest inventory snapshot on each series' last day
    (the form the predictor's pyfunc takes stock in)."""
    latest = _stock(sales, inventory)
    assert latest is not None
    stock = latest.groupby(["sku_id", "channel"], as_index=False, observed=True)["on_hand"].sum()
    last = sales.groupby(["sku_id", "channel"], observed=True)["ds"].transform("max") == sales["ds"]
    out = sales.drop(columns=[c for c in ("on_hand",) if c in sales.columns])
    out = out.merge(stock, on=["sku_id", "channel"], how="left")
    out.loc[~last.to_numpy(), "on_hand"] = np.nan
    return out


def _stock(sales: pd.DataFrame, inventory: pd.DataFrame | None) -> pd.DataFrame | None:
    if inventory is not None and len(inventory):
        inv = inventory
        if "ds" in inv.columns and inv["ds"].notna().any():
            inv = inv[
                inv["ds"]
                == inv.groupby(["sku_id", "channel"], observed=True)["ds"].transform("max")
            ]
        return inv[["sku_id", "channel", "on_hand"]]
    if "on_hand" in sales.columns and sales["on_hand"].notna().any():
        last = sales[
            sales["ds"]
            == sales.groupby(["sku_id", "channel"], observed=True)["ds"].transform("max")
        ]
        return last[["sku_id", "channel", "on_hand"]].dropna()
    return None
