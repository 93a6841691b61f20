"""``forecasting simulate``: replay demand under the predictor's policy vs all-unified."""

from __future__ import annotations

import argparse
from typing import Any

from forecasting import tracking
from forecasting.cli.common import named_sources, policy_argument, read_known, read_policy


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        parents=parents,
        help="replay demand under a stocking policy vs all-unified",
        description="Replay held-out demand under the predictor's stocking decisions and under "
        "an all-unified baseline; report fill rate, turnover days and slow-mover share.",
    )
    p.add_argument("--sales", required=True, help="sales file: history and held-out periods")
    p.add_argument(
        "--inventory",
        help="stock at the start of the held-out periods (the latest snapshot dated before "
        "them); without it each policy starts at its own order-up-to levels",
    )
    p.add_argument(
        "--model",
        default=f"models:/{tracking.PREDICTOR_MODEL}@{tracking.SERVING_ALIAS}",
        help="predictor to simulate (default: the champion)",
    )
    p.add_argument(
        "--holdout", type=int, help="periods to replay at the end of the sales (default: horizon)"
    )
    p.add_argument("--output", help="per-SKU results file (CSV or Parquet), optional")
    p.add_argument(
        "--allow-in-sample",
        action="store_true",
        help="replay held-out days the model was trained on (refused by default: such a "
        "replay flatters the model; the run is then tagged in_sample)",
    )
    policy_argument(p, "the model's values (its network included, unless [network] is given)")
    p.add_argument(
        "--calendar",
        metavar="FILE",
        help="calendar replacing the one the predictor was trained with (same columns), "
        "covering the replayed days",
    )
    p.set_defaults(
        handler=_simulate, inputs=("sales", "inventory", "policy", "calendar"), outputs=("output",)
    )


def _simulate(args: argparse.Namespace) -> int:
    from forecasting.data.contracts import INVENTORY, SALES
    from forecasting.data.io import read_table, table_format, write_table
    from forecasting.pipelines.simulation import run_simulation

    if args.output:
        table_format(args.output)
    sales = read_table(args.sales, SALES, date_format=args.date_format)
    inventory = (
        read_table(args.inventory, INVENTORY, date_format=args.date_format)
        if args.inventory
        else None
    )
    calendar, _ = read_known(args)
    model: Any = args.model
    policy, policy_text = None, None
    if args.policy or calendar is not None:
        from forecasting.serving import load_predictor

        tracking.configure(args.tracking_uri)
        model = load_predictor(args.model)
    if args.policy:
        policy, policy_text = read_policy(args.policy, model.config.policy)
    if calendar is not None:
        model = model.with_calendar(calendar, args.calendar)
    with named_sources(args):
        result, run_id = run_simulation(
            model,
            sales,
            inventory,
            args.holdout,
            tracking_uri=args.tracking_uri,
            allow_in_sample=args.allow_in_sample,
            policy=policy,
            policy_file=policy_text,
        )
    if args.output:
        write_table(result.per_sku, args.output)
    if result.in_sample:
        print(
            f"IN-SAMPLE: the replayed periods from {result.first_held_out} on overlap "
            "the model's training data (--allow-in-sample); these figures flatter it"
        )
    print(format_simulation(result))
    print(f"simulate: run {run_id} in experiment {tracking.EXPERIMENTS['simulation']}")
    return 0


def format_simulation(result: Any) -> str:
    """The simulation's figures, one line per policy."""
    lines = []
    for row in result.summary.to_dict("records"):
        lines.append(
            f"{row['policy']:>12}: fill rate {row['fill_rate']:.2%}, turnover "
            f"{row['turnover_days']:.1f} days, slow movers at end "
            f"{row['slow_mover_share_end']:.1%}, avg inventory {row['avg_inventory_value']:,.0f}"
            f", total cost {row['total_cost']:,.0f}"
            f"; units lost: {row['lost_units_out_of_stock']:,.0f} out of stock, "
            f"{row['lost_units_not_waiting']:,.0f} not waiting for delivery, "
            f"{row['lost_units_delisted']:,.0f} delisted, "
            f"{row['backorders_open_end']:,.0f} still waiting at the end"
        )
    gain = result.improvement()
    lines.append(
        f"{'change':>12}: turnover days {gain['turnover_days_change']:+.1%}, "
        f"fill rate {gain['fill_rate_diff'] * 100:+.2f} points"
    )
    return "\n".join(lines)
