"""``forecasting demo``: the whole job end to end on built-in synthetic data."""

from __future__ import annotations

import argparse
from typing import Any

from forecasting.cli.common import policy_argument, read_policy


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        parents=parents,
        help="the whole job end to end on built-in synthetic data",
        description="Generate a synthetic omnichannel retailer, train, build, register, score "
        "and simulate, log each stage to MLflow and print a summary.",
    )
    p.add_argument("--n-skus", type=int, default=400, help="SKUs to generate (default 400)")
    p.add_argument("--n-days", type=int, default=365, help="days of history (default 365)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--output-dir", default="demo_output", help="where data and decisions go")
    policy_argument(p, "their defaults; horizon_days sets the demo's horizon")
    p.set_defaults(
        handler=_demo, inputs=("policy",), outputs=("output_dir",), folders=("output_dir",)
    )


def _demo(args: argparse.Namespace) -> int:
    from forecasting.pipelines.demo import DemoConfig, format_summary, run_demo
    from forecasting.policy.config import PolicyConfig

    policy, _ = read_policy(args.policy, PolicyConfig(horizon_days=DemoConfig.horizon))
    cfg = DemoConfig(
        n_skus=args.n_skus,
        n_days=args.n_days,
        seed=args.seed,
        output_dir=args.output_dir,
        horizon=policy.horizon_days,
        policy=policy,
    )
    print(format_summary(run_demo(cfg, tracking_uri=args.tracking_uri)))
    return 0
