"""``forecasting build-predictor``: train, log and register the elastic-SKU predictor."""

from __future__ import annotations

import argparse
from typing import Any

from forecasting import tracking
from forecasting.cli.common import (
    config_from_args,
    known_arguments,
    links_argument,
    named_sources,
    policy_argument,
    read_known,
    read_links_file,
    read_policy,
)
from forecasting.data.contracts import TRANSACTIONS


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "build-predictor",
        parents=parents,
        help="train, log and register the elastic-SKU predictor",
        description="Train what the predictor needs, log it as an MLflow pyfunc model, register "
        "it and set the alias when it passes the gate: the last --horizon days of the sales are "
        "held out, a challenger fitted on the days before them and the champion are judged on "
        "what happened there (forecast RMSSE and the simulated cost of their decisions).",
    )
    p.add_argument("--transactions", required=True, help="transactions file")
    p.add_argument("--sales", help="sales file (default: derived from the transactions)")
    p.add_argument("--inventory", help="inventory snapshot file")
    p.add_argument("--name", default=tracking.PREDICTOR_MODEL, help="registered model name")
    p.add_argument("--alias", default=tracking.SERVING_ALIAS, help="alias to set")
    p.add_argument("--skus", help="SKU table with unit_cost (default: costs from prices)")
    p.add_argument(
        "--horizon",
        type=int,
        help="days to plan for, and the days held out for the gate (default: the policy "
        "file's horizon_days, else 28)",
    )
    policy_argument(p, "their defaults")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="how much worse than the champion, as a share, the new version may be on the "
        "held-out days and still be promoted (default 0)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="move the alias even when the gate fails or cannot compare (said in the verdict)",
    )
    known_arguments(p)
    links_argument(p)
    p.set_defaults(
        handler=_build_predictor,
        inputs=(
            "transactions",
            "sales",
            "inventory",
            "skus",
            "policy",
            "calendar",
            "future",
            "links",
        ),
    )


def _build_predictor(args: argparse.Namespace) -> int:
    from forecasting.data.contracts import INVENTORY, SALES, SKUS
    from forecasting.data.io import read_table
    from forecasting.demand.config import DemandConfig
    from forecasting.pipelines.predictor import build_predictor
    from forecasting.policy.config import PolicyConfig
    from forecasting.predictor import PredictorConfig

    policy, policy_text = read_policy(args.policy, PolicyConfig())  # before the data: quick
    horizon = _horizon(args.horizon, policy, policy_text, args.policy)
    cfg = PredictorConfig(
        demand=config_from_args(DemandConfig, freq="D", horizon=horizon),
        policy=config_from_args(policy.with_, horizon_days=horizon),
    )
    tx = read_table(args.transactions, TRANSACTIONS, date_format=args.date_format)
    sales = read_table(args.sales, SALES, date_format=args.date_format) if args.sales else None
    inventory = (
        read_table(args.inventory, INVENTORY, date_format=args.date_format)
        if args.inventory
        else None
    )
    skus = read_table(args.skus, SKUS, date_format=args.date_format) if args.skus else None
    calendar, future = read_known(args)
    tracking.configure(args.tracking_uri)
    with named_sources(args):
        result = build_predictor(
            tx,
            sales,
            inventory,
            skus,
            cfg,
            tracking_uri=args.tracking_uri,
            name=args.name,
            alias=args.alias,
            tolerance=args.tolerance,
            force=args.force,
            policy_file=policy_text,
            calendar=calendar,
            future=future,
            links=read_links_file(args),
            links_source=args.links,
        )
    d = result.decisions
    print(
        f"build-predictor: {len(d)} SKUs, {(d['stocking'] == 'tiered').mean():.0%} tiered, "
        f"{d['slow_mover'].mean():.0%} slow movers"
    )
    print("  " + ", ".join(f"{k} {v:.4g}" for k, v in result.figures.items()))
    print(
        f"  registered {args.name} version {result.model_version}; gate: {result.verdict}"
        + (f"; alias {args.alias} -> v{result.model_version}" if result.promoted else "")
    )
    return 0


def _horizon(given: int | None, policy: Any, policy_text: str | None, path: str) -> int:
    """``--horizon``, else the policy's ``horizon_days`` (28 unless the file sets it); both
    given and disagreeing is a user error."""
    import tomllib

    from forecasting.errors import ForecastingError

    in_file = policy_text is not None and "horizon_days" in tomllib.loads(policy_text)
    if given is not None and in_file and given != policy.horizon_days:
        raise ForecastingError(
            f"--horizon {given} and horizon_days = {policy.horizon_days} in {path} disagree: "
            "give one of them"
        )
    return given if given is not None else int(policy.horizon_days)
