"""``forecasting score``: batch scoring with a registered predictor."""

from __future__ import annotations

import argparse
import os
from typing import Any

from forecasting import tracking
from forecasting.cli.common import engine_arguments, known_arguments, named_sources, read_known
from forecasting.data.io import table_format
from forecasting.data.layout import is_bucketed
from forecasting.errors import ForecastingError


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "score",
        parents=parents,
        help="batch scoring with a registered predictor",
        description="Score a sales file with a registered predictor (models:/NAME@ALIAS) and "
        "write one decision per SKU.",
    )
    p.add_argument(
        "--model", required=True, help="model URI, e.g. models:/elastic-sku-predictor@champion"
    )
    p.add_argument(
        "--sales", required=True, help="sales file, or a folder written by forecasting partition"
    )
    p.add_argument("--inventory", help="inventory snapshot file")
    p.add_argument("--output", required=True, help="decisions file (CSV or Parquet)")
    p.add_argument("--chunk-size", type=int, default=2000, help="SKUs per chunk (default 2000)")
    p.add_argument(
        "--rows-per-part",
        type=int,
        default=2_000_000,
        help="sales rows held in memory at once, about (default 2,000,000)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="worker processes of the pandas engine, each loading the model once and "
        "holding a part, about 1 GiB each (default: the cores, at most 4; 1: this process)",
    )
    known_arguments(p, replaces=True)
    engine_arguments(p)
    p.set_defaults(
        handler=_score, inputs=("sales", "inventory", "calendar", "future"), outputs=("output",)
    )


def _score_spark(args: argparse.Namespace) -> int:
    from forecasting.scoring.spark import score_spark, spark_session
    from forecasting.serving.models import check_model

    for name in ("sales", "inventory"):
        path = getattr(args, name)
        if name == "sales" and is_bucketed(path):  # forecasting partition's folder
            continue
        if path and table_format(path) != "parquet":
            raise ForecastingError(f"--engine spark reads Parquet: convert {path} to .parquet")
    if table_format(args.output) != "parquet":
        raise ForecastingError("--engine spark writes Parquet: give an --output ending .parquet")
    from forecasting.scoring.local import Known

    calendar, future = read_known(args)
    known = Known(calendar, future, args.calendar or "<calendar>")
    uri = tracking.configure(args.tracking_uri)
    check_model(args.model)  # here, not after every executor's retries
    spark = spark_session(args.spark_master, "forecasting-score")
    n = score_spark(
        spark,
        args.model,
        uri,
        args.sales,
        args.output,
        args.inventory,
        args.chunk_size,
        args.rows_per_part,
        known,
    )
    print(f"score: {n} SKUs -> {args.output} (Spark, {args.spark_master})")
    return 0


def _score(args: argparse.Namespace) -> int:
    if args.engine == "spark":
        with named_sources(args):
            return _score_spark(args)
    from forecasting.scoring.local import score_file

    with named_sources(args):
        decisions = score_file(
            args.model,
            args.sales,
            args.output,
            args.inventory,
            chunk_size=args.chunk_size,
            rows_per_part=args.rows_per_part,
            jobs=args.jobs,
            tracking_uri=args.tracking_uri,
            date_format=args.date_format,
            calendar_path=args.calendar,
            future_path=args.future,
        )
    print(
        f"score: {len(decisions)} SKUs -> {args.output} "
        f"({(decisions['stocking'] == 'tiered').mean():.0%} tiered, "
        f"{decisions['slow_mover'].mean():.0%} slow movers)"
    )
    return 0
