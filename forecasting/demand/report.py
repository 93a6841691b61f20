"""The backtest of a fitted forecaster as tables: per series and per model x class."""

from __future__ import annotations

import pandas as pd

from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.metrics import series_metrics, summarize
from forecasting.demand.panel import KEYS


def backtest_report(
    model: DemandForecaster, sales: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-series, summary) metrics of every candidate and of the final forecast on the
    rolling-origin backtest of the training data; the summary is per model and demand
    class: MASE, RMSSE, bias, scaled pinball and revenue-weighted RMSSE (``sales`` give the
    revenue)."""
    cv = model.cv_
    if cv.empty:
        empty = pd.DataFrame(columns=["model", "demand_class", "rmsse", "mase", "bias"])
        return empty, empty
    cfg = model.config
    qmap = {"forecast": {q: f"forecast-{n}" for n, q in cfg.quantiles.items()}}
    # scaled by the naive forecast on the data before the first cutoff (model.scales_)
    per_series = series_metrics(
        cv, None, ["forecast", *model.candidates_], qmap, scales=model.scales_
    )
    revenue = _revenue(sales).reindex(pd.MultiIndex.from_frame(model.keys_[KEYS])).fillna(0.0)
    weights = pd.Series(revenue.to_numpy(), index=model.keys_["unique_id"].to_numpy())
    classes = model.classes_.set_index("unique_id")["demand_class"]
    summary = summarize(per_series, classes, weights)
    per_series = per_series.merge(model.keys_, on="unique_id").drop(columns="unique_id")
    per_series["demand_class"] = (
        per_series[KEYS]
        .merge(model.keys_.merge(model.classes_, on="unique_id"), on=KEYS, how="left")[
            "demand_class"
        ]
        .to_numpy()
    )
    rest = [c for c in per_series.columns if c not in (*KEYS, "demand_class")]
    return per_series[[*KEYS, "demand_class", *rest]], summary


def overall(summary: pd.DataFrame, model: str = "forecast") -> pd.Series | None:
    """The summary's row of ``model`` over all classes (None without a backtest)."""
    rows = summary[(summary["model"] == model) & (summary["demand_class"] == "all")]
    return rows.iloc[0] if len(rows) else None


def _revenue(sales: pd.DataFrame) -> pd.Series:
    price = (
        sales["price"].fillna(0.0)
        if "price" in sales.columns and sales["price"].notna().any()
        else 1.0
    )
    return (sales["y"] * price).groupby([sales["sku_id"], sales["channel"]], observed=True).sum()


def forecast_columns(config: DemandConfig) -> list[str]:
    """The columns of the forecast file: ``sku_id, channel, ds, forecast`` and quantiles."""
    return [*KEYS, "ds", "forecast", *[f"forecast-{n}" for n in config.quantiles]]
