"""`run_simulation`: replay a predictor's decisions on held-out demand, tracked in MLflow."""

from __future__ import annotations

import pandas as pd

from forecasting import tracking
from forecasting.policy.config import PolicyConfig
from forecasting.policy.file import policy_to_toml
from forecasting.policy.plots import simulation_figures
from forecasting.policy.simulation import SimulationResult
from forecasting.predictor import ElasticSkuPredictor, simulate_predictor
from forecasting.progress import stage
from forecasting.serving import load_predictor


def run_simulation(
    model: str | ElasticSkuPredictor,
    sales: pd.DataFrame,
    inventory: pd.DataFrame | None = None,
    holdout: int | None = None,
    *,
    tracking_uri: str | None = None,
    run_name: str = "simulate",
    allow_in_sample: bool = False,
    policy: PolicyConfig | None = None,
    policy_file: str | None = None,
) -> tuple[SimulationResult, str]:
    """`simulate_predictor` for a predictor or a model URI, logged to the simulation
    experiment (config, metrics per policy, per-SKU table, plots). Returns (result, run id).

    ``policy``: replay under this policy instead of the model's (``policy_file``: the text
    of the file it came from, logged as ``policy_file.toml``)."""
    tracking.configure(tracking_uri)
    if isinstance(model, str):
        with stage(f"model loaded: {model}"):
            predictor = load_predictor(model)
        source = model
    else:
        predictor, source = model, "in memory"
    if policy is not None:
        predictor = predictor.with_policy(**vars(policy))
    with stage("decisions, then the held-out periods replayed under both policies"):
        result, decisions = simulate_predictor(
            predictor, sales, inventory, holdout, allow_in_sample=allow_in_sample
        )
    period = predictor.data_end_
    with tracking.start_run("simulation", run_name, tracking_uri=tracking_uri) as run:
        tracking.set_tags(
            {
                "model": source,
                "first_held_out": str(result.first_held_out),
                "model_data_end": "unknown" if period is None else str(period.date()),
                "in_sample": str(result.in_sample).lower(),
            }
        )
        tracking.log_config(predictor.config.policy, "policy")
        tracking.log_text(policy_to_toml(predictor.config.policy), "policy.toml")
        if policy_file is not None:
            tracking.log_text(policy_file, "policy_file.toml")
        tracking.log_params(
            {
                "holdout_periods": holdout or predictor.config.demand.horizon,
                "freq": predictor.config.demand.freq,
            }
        )
        for row in result.summary.to_dict("records"):
            policy = row.pop("policy")
            tracking.log_metrics({f"{policy}_{k}": float(v) for k, v in row.items()})
        tracking.log_metrics(result.improvement())
        tracking.log_table(result.summary, "simulation_summary.parquet")
        tracking.log_table(result.per_sku, "simulation_per_sku.parquet")
        tracking.log_table(decisions, "decisions.parquet")
        for name, fig in simulation_figures(result).items():
            tracking.log_figure(fig, name)
    return result, run.info.run_id
