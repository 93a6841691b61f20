"""``forecasting train-propensity``: the repurchase model trained up to a cutoff."""

from __future__ import annotations

import argparse
from typing import Any

from forecasting import tracking
from forecasting.cli.common import config_from_args, links_argument, read_links_file, run_line
from forecasting.data.contracts import TRANSACTIONS
from forecasting.errors import ForecastingError


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train-propensity",
        parents=parents,
        help="repurchase model trained up to a cutoff",
        description="Train the repurchase-propensity model on transactions up to --cutoff and "
        "write customer_id, score = P(a purchase in (cutoff, cutoff + N days]).",
    )
    p.add_argument("--transactions", required=True, help="transactions file")
    p.add_argument("--cutoff", required=True, help="last day of history, YYYY-MM-DD")
    p.add_argument("--horizon-days", required=True, type=int, help="N: days after the cutoff")
    p.add_argument("--scores-out", help="where to write the scores (CSV or Parquet)")
    p.add_argument("--n-train-cutoffs", type=int, default=4, help="earlier cutoffs stacked")
    p.add_argument("--cutoff-step-days", type=int, help="days between them (default: N)")
    p.add_argument("--no-register", action="store_true", help="log the run, do not register")
    links_argument(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(
        handler=_train_propensity, inputs=("transactions", "links"), outputs=("scores_out",)
    )


def _train_propensity(args: argparse.Namespace) -> int:
    import pandas as pd

    from forecasting.data.io import read_table, table_format, write_table
    from forecasting.pipelines.propensity import train_propensity
    from forecasting.propensity.model import PropensityConfig

    if args.scores_out:
        table_format(args.scores_out)
    try:
        cutoff = pd.Timestamp(args.cutoff)
    except ValueError:
        raise ForecastingError(f"--cutoff {args.cutoff!r} is not a date: use YYYY-MM-DD") from None
    cfg = config_from_args(
        PropensityConfig,
        horizon_days=args.horizon_days,
        n_train_cutoffs=args.n_train_cutoffs,
        cutoff_step_days=args.cutoff_step_days,
        seed=args.seed,
    )
    tx = read_table(args.transactions, TRANSACTIONS, date_format=args.date_format)
    result = train_propensity(
        tx,
        cutoff,
        cfg,
        tracking_uri=args.tracking_uri,
        register=not args.no_register,
        source=str(args.transactions),
        links=read_links_file(args),
        links_source=args.links,
    )
    if args.scores_out:
        write_table(result.scores[["customer_id", "score"]], args.scores_out)
    print(
        f"train-propensity: {len(result.scores)} customers scored at {cutoff.date()} "
        f"for the next {cfg.horizon_days} days; strategy: {result.model.strategy_}"
    )
    for _, row in result.holdout_metrics.iterrows():
        print(
            f"  holdout {row['scorer']:>6}: AUC {row.get('roc_auc', float('nan')):.3f}, "
            f"Brier {row['brier']:.4f}, expected/actual {row['expected_vs_actual_pct']:+.1f}%"
        )
    print(f"  expected repurchasers: {result.scores['score'].sum():.0f}")
    print(run_line(result.run_id, tracking.PROPENSITY_MODEL, result.model_version))
    if args.scores_out:
        print(f"  scores: {args.scores_out}")
    return 0
