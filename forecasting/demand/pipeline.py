"""`train_demand`: fit, backtest, forecast, and track one demand training in MLflow."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.data.contracts import SALES, validate
from forecasting.data.synthetic import sales_example
from forecasting.demand.classification import classify_demand
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import KEYS, DemandForecaster
from forecasting.demand.metrics import series_metrics, summarize
from forecasting.demand.plots import adi_cv2_scatter, forecast_vs_actual

log = logging.getLogger(__name__)


@dataclass
class DemandResult:
    """What a demand training returns."""

    forecaster: DemandForecaster
    forecast: pd.DataFrame  # sku_id, channel, ds, forecast, quantile columns, demand_class
    backtest_summary: pd.DataFrame  # per model x class: mase, rmsse, bias, wrmsse, pinball
    backtest_series: pd.DataFrame  # per series x model
    classification: pd.DataFrame  # per series: ADI, CV², class, ABC, recency
    run_id: str | None = None
    model_version: str | None = None


def backtest_report(
    model: DemandForecaster, sales: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-series and summary metrics of every candidate and the final forecast on the
    rolling-origin backtest of the training data."""
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
    return per_series[
        [
            *KEYS,
            "demand_class",
            *[c for c in per_series.columns if c not in (*KEYS, "demand_class")],
        ]
    ], summary


def _revenue(sales: pd.DataFrame) -> pd.Series:
    price = (
        sales["price"].fillna(0.0)
        if "price" in sales.columns and sales["price"].notna().any()
        else 1.0
    )
    return (sales["y"] * price).groupby([sales["sku_id"], sales["channel"]], observed=True).sum()


def train_demand(
    sales: pd.DataFrame,
    config: DemandConfig | None = None,
    *,
    tracking_uri: str | None = None,
    register: bool = True,
    registered_name: str = tracking.DEMAND_MODEL,
    source: str | None = None,
    engine: Any = None,
) -> DemandResult:
    """Fit the forecaster, backtest it, forecast, and log one MLflow run (and register it).
    ``engine``: a SparkSession runs the local models on Spark (`DemandForecaster`)."""
    import mlflow

    cfg = config or DemandConfig()
    # IDs as categories: the sales may be tens of millions of rows
    sales = validate(sales, SALES, source or "<sales>", categorical_ids=True)
    model = DemandForecaster(cfg, engine=engine).fit(sales)
    forecast = model.predict()
    per_series, summary = backtest_report(model, sales)
    classification = classify_demand(sales)
    sku_classes = classify_demand(sales, by=("sku_id",))
    result = DemandResult(model, forecast, summary, per_series, classification)
    with tracking.start_run("demand", "train-demand", tracking_uri=tracking_uri) as run:
        tracking.log_config(cfg, "demand")
        mlflow.log_params(
            {
                "data.source": source or "<DataFrame>",
                "data.n_series": model.n_series_,
                "data.n_rows": len(sales),
                "data.start": str(sales["ds"].min().date()),
                "data.end": str(sales["ds"].max().date()),
            }
        )
        mlflow.log_metrics(_metrics(summary, model))
        mlflow.log_dict({k: list(v) for k, v in model.selection_.items()}, "selection.json")
        if model.screening_:  # costly models backtested on a sample: kept or dropped per class
            mlflow.log_dict(model.screening_, "screening.json")
        tracking.log_table(classification, "classification/series.parquet")
        tracking.log_table(sku_classes, "classification/sku.parquet")
        tracking.log_table(per_series, "backtest/series_metrics.parquet")
        tracking.log_table(summary, "backtest/summary.parquet")
        tracking.log_figure(adi_cv2_scatter(classification), "plots/adi_cv2.png")
        if not model.cv_.empty:
            lo, hi = f"forecast-lo-{max(cfg.levels):g}", f"forecast-hi-{max(cfg.levels):g}"
            fig = forecast_vs_actual(model.cv_, model.panel_, lo, hi, seed=cfg.seed)
            tracking.log_figure(fig, "plots/forecast_vs_actual.png")
        if register:
            from forecasting.tracking.models import log_demand_model

            info = log_demand_model(
                model, sales_example(cfg.freq, periods=max(3 * cfg.season, 30)), registered_name
            )
            result.model_version = str(info.registered_model_version)
        result.run_id = run.info.run_id
    return result


def _metrics(summary: pd.DataFrame, model: DemandForecaster) -> dict[str, float]:
    out: dict[str, float] = {f"seconds_{k}": v for k, v in model.timings_.items()}
    out["seconds_fit"] = model.fit_seconds_
    if summary.empty:
        return out
    for _, row in summary.iterrows():
        prefix = "backtest" if row["model"] == "forecast" else f"backtest_{row['model']}"
        if row["model"] != "forecast" and row["demand_class"] != "all":
            continue
        suffix = "" if row["demand_class"] == "all" else f"_{row['demand_class']}"
        for metric in ("rmsse", "mase", "bias", "wrmsse", "scaled_pinball"):
            value = row.get(metric)
            if value is not None and pd.notna(value):
                out[f"{prefix}_{metric}{suffix}".replace("+", "_plus_")] = float(value)
    return out


def forecast_columns(config: DemandConfig) -> list[str]:
    """The columns of the forecast file: ``sku_id, channel, ds, forecast`` and quantiles."""
    return [*KEYS, "ds", "forecast", *[f"forecast-{n}" for n in config.quantiles]]


__all__: list[Any] = ["DemandResult", "backtest_report", "forecast_columns", "train_demand"]
