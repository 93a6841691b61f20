"""`train_demand`: fit, backtest, forecast, and track one demand training in MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.data.complete import complete_sales
from forecasting.data.contracts import SALES, validate
from forecasting.demand.classification import classify_demand
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.plots import adi_cv2_scatter, forecast_vs_actual
from forecasting.demand.report import backtest_report, forecast_columns
from forecasting.pipelines.common import record_training_data
from forecasting.progress import stage
from forecasting.serving import log_demand_model, sales_input_example


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


def train_demand(
    sales: pd.DataFrame,
    config: DemandConfig | None = None,
    *,
    tracking_uri: str | None = None,
    register: bool = True,
    registered_name: str = tracking.DEMAND_MODEL,
    source: str | None = None,
    spark: Any = None,
    calendar: pd.DataFrame | None = None,
    future: pd.DataFrame | None = None,
) -> DemandResult:
    """Fit the forecaster, backtest it, forecast, and log one MLflow run (and register it).
    ``calendar`` / ``future``: what the forecast knows in advance (`DemandForecaster`); the
    registered model keeps the calendar. ``spark``: a SparkSession runs the local models on
    Spark."""
    cfg = config or DemandConfig()
    # IDs as categories: the sales may be tens of millions of rows
    sales = validate(sales, SALES, source or "<sales>", categorical_ids=True)
    data = {
        "data.n_rows": len(sales),
        "data.start": str(sales["ds"].min().date()),
        "data.end": str(sales["ds"].max().date()),
    }
    # the run spans the whole work (its duration in the UI is the job's), not only the logging
    with tracking.start_run("demand", "train-demand", tracking_uri=tracking_uri) as run:
        # made complete once, before the fit: the classifications and the forecaster then
        # read it without building the grid again (at M5's size each grid is 59 M rows and
        # ~2 GiB), and the table as given is freed when nothing else holds it (the CLI
        # passes it so)
        with stage("sales made complete"):
            sales = complete_sales(sales)
        with stage("demand classes"):
            classification = classify_demand(sales)
            sku_classes = classify_demand(sales, by=("sku_id",))
        model = DemandForecaster(cfg).fit(sales, calendar=calendar, future=future, spark=spark)
        with stage("forecast and backtest report"):
            forecast = model.forecast(spark=spark)
            per_series, summary = backtest_report(model, sales)
        result = DemandResult(model, forecast, summary, per_series, classification)
        _log(result, sku_classes, data, cfg, future, source)
        if register:
            with stage("model logged and registered"):
                example = sales_input_example(sales, periods=max(3 * cfg.season, 30))
                info = log_demand_model(model, example, registered_name)
            result.model_version = str(info.registered_model_version)
        record_training_data(model, sales, registered_name, result.model_version, tracking_uri)
        result.run_id = run.info.run_id
    return result


def _log(
    result: DemandResult,
    sku_classes: pd.DataFrame,
    data: dict[str, Any],
    cfg: DemandConfig,
    future: pd.DataFrame | None,
    source: str | None,
) -> None:
    """The run's params, metrics, tables and plots."""
    model, summary, per_series = result.forecaster, result.backtest_summary, result.backtest_series
    classification = result.classification
    with stage("run logged"):
        tracking.log_config(cfg, "demand")
        tracking.log_params(
            {
                "data.source": source or "<DataFrame>",
                "data.n_series": model.n_series_,
                **data,
                "data.calendar": ", ".join(model.calendar_.features) if model.calendar_ else "none",
                "data.future_plan": future is not None,
            }
        )
        if not model.interval_scales_.empty:  # the bands' widening to held-out coverage
            tracking.log_table(model.interval_scales_, "backtest/interval_scales.parquet")
        tracking.log_metrics(_metrics(summary, model))
        tracking.log_dict({k: list(v) for k, v in model.selection_.items()}, "selection.json")
        if model.screening_:  # costly models backtested on a sample: kept or dropped per class
            tracking.log_dict(model.screening_, "screening.json")
        tracking.log_table(classification, "classification/series.parquet")
        tracking.log_table(sku_classes, "classification/sku.parquet")
        tracking.log_table(per_series, "backtest/series_metrics.parquet")
        tracking.log_table(summary, "backtest/summary.parquet")
        tracking.log_figure(adi_cv2_scatter(classification), "plots/adi_cv2.png")
        if not model.cv_.empty:
            lo, hi = f"forecast-lo-{max(cfg.levels):g}", f"forecast-hi-{max(cfg.levels):g}"
            fig = forecast_vs_actual(model.cv_, model.panel_, lo, hi, seed=cfg.seed)
            tracking.log_figure(fig, "plots/forecast_vs_actual.png")


def _metrics(summary: pd.DataFrame, model: DemandForecaster) -> dict[str, float]:
    out: dict[str, float] = {f"seconds_{k}": v for k, v in model.timings_.items()}
    out["seconds_fit"] = model.fit_seconds_
    for name, amount in model.stockouts_.items():  # out-of-stock periods: demand estimated
        out[f"data_{name}"] = float(amount)
    for name, n in model.fallbacks_.items():  # series a model could not forecast in the backtest
        out[f"backtest_fallback_series_{name}".replace("+", "_plus_")] = float(n)
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


__all__ = ["DemandResult", "forecast_columns", "train_demand"]
