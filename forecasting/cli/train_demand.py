"""``forecasting train-demand``: demand forecasts per sku x channel."""

from __future__ import annotations

import argparse
from typing import Any

from forecasting import tracking
from forecasting.cli.common import (
    config_from_args,
    engine_arguments,
    known_arguments,
    named_sources,
    read_known,
    run_line,
)
from forecasting.errors import ForecastingError


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train-demand",
        parents=parents,
        help="demand forecasts per sku x channel",
        description="Train demand models on a sales file, backtest them, log the run to MLflow "
        "and write forecasts: sku_id, channel, ds, forecast plus quantile columns.",
    )
    p.add_argument("--sales", required=True, help="sales file (CSV, .csv.gz or Parquet)")
    p.add_argument("--freq", required=True, choices=["D", "W", "M"], help="period of the sales")
    p.add_argument("--horizon", required=True, type=int, help="periods to forecast")
    p.add_argument("--forecast-out", help="where to write the forecasts (CSV or Parquet)")
    p.add_argument(
        "--level",
        type=int,
        action="append",
        dest="levels",
        help="central interval level in %% (repeatable; default 80: the 10%% and 90%% quantiles)",
    )
    p.add_argument("--n-windows", type=int, default=4, help="backtest windows (default 4)")
    p.add_argument(
        "--selection-metric",
        choices=["rmsse", "mase"],
        default="rmsse",
        help="what the per-class model selection minimises in the backtest (default rmsse)",
    )
    p.add_argument("--no-lightgbm", action="store_true", help="local statsforecast models only")
    p.add_argument("--no-register", action="store_true", help="log the run, do not register")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    known_arguments(p)
    engine_arguments(p)
    p.set_defaults(
        handler=_train_demand, inputs=("sales", "calendar", "future"), outputs=("forecast_out",)
    )


def _train_demand(args: argparse.Namespace) -> int:
    from forecasting.data.io import table_format, write_table
    from forecasting.demand.config import DemandConfig
    from forecasting.demand.report import forecast_columns
    from forecasting.pipelines.demand import train_demand

    if args.forecast_out:
        table_format(args.forecast_out)  # a bad output name fails before any work
    cfg = config_from_args(
        DemandConfig,
        freq=args.freq,
        horizon=args.horizon,
        levels=tuple(args.levels or (80,)),
        n_windows=args.n_windows,
        use_lightgbm=not args.no_lightgbm,
        selection_metric=args.selection_metric,
        seed=args.seed,
    )
    engine = None
    if args.engine == "spark":
        from forecasting.scoring.spark import spark_session

        for path in (args.sales, args.forecast_out):
            if path and table_format(path) != "parquet":
                raise ForecastingError(f"--engine spark reads and writes Parquet, not {path}")
        engine = spark_session(args.spark_master, "forecasting-train-demand")
    calendar, future = read_known(args)
    with named_sources(args):
        result = train_demand(
            # passed, not held here: train_demand frees the table as read once it has its own
            _read_sales(args, engine),
            cfg,
            tracking_uri=args.tracking_uri,
            register=not args.no_register,
            source=str(args.sales),
            spark=engine,
            calendar=calendar,
            future=future,
        )
    if args.forecast_out and engine is not None:
        from forecasting.scoring.spark import write_parquet

        write_parquet(engine, result.forecast[forecast_columns(cfg)], args.forecast_out)
    elif args.forecast_out:
        write_table(result.forecast[forecast_columns(cfg)], args.forecast_out)
    final = result.backtest_summary
    final = final[(final["model"] == "forecast") & (final["demand_class"] == "all")]
    print(f"train-demand: {result.forecaster.n_series_} series, horizon {cfg.horizon} x {cfg.freq}")
    if not final.empty:
        row = final.iloc[0]
        print(
            f"  backtest ({cfg.n_windows} windows): RMSSE {row['rmsse']:.3f}, "
            f"MASE {row['mase']:.3f}, scaled pinball {row['scaled_pinball']:.3f}"
        )
    sel = {k: "+".join(v) for k, v in result.forecaster.selection_.items() if k != "_default"}
    print("  models per class: " + ", ".join(f"{k}: {v}" for k, v in sorted(sel.items())))
    print(run_line(result.run_id, tracking.DEMAND_MODEL, result.model_version))
    if args.forecast_out:
        print(f"  forecasts: {args.forecast_out} ({len(result.forecast)} rows)")
    return 0


def _read_sales(args: argparse.Namespace, engine: Any) -> Any:
    """The sales file as a pandas table (IDs as categories), read by Spark with an engine."""
    from forecasting.data.contracts import SALES
    from forecasting.data.io import read_table

    if engine is not None:
        from forecasting.scoring.spark import read_parquet

        return read_parquet(engine, args.sales, SALES)
    return read_table(args.sales, SALES, categorical_ids=True, date_format=args.date_format)
