"""`train_propensity`: fit at a cutoff, score every customer, track the run in MLflow."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from forecasting import tracking
from forecasting.data.contracts import TRANSACTIONS, validate
from forecasting.pipelines.common import linked, record_training_data
from forecasting.progress import stage
from forecasting.propensity.metrics import calibration_table, holdout_metrics
from forecasting.propensity.model import PropensityConfig, PropensityModel
from forecasting.propensity.plots import calibration_plot, importance_plot
from forecasting.propensity.repurchase import sku_repurchase_rates
from forecasting.serving import log_propensity_model


@dataclass
class PropensityResult:
    model: PropensityModel
    scores: pd.DataFrame  # customer_id, score, score_model, score_bgnbd
    holdout_metrics: pd.DataFrame  # per scorer: AUC, PR AUC, Brier, log loss, lift, expected
    sku_rates: pd.DataFrame  # sku_id, buyers, repurchasers, observed_rate, predicted_rate
    run_id: str | None = None
    model_version: str | None = None


def train_propensity(
    transactions: pd.DataFrame,
    cutoff: str | pd.Timestamp,
    config: PropensityConfig | None = None,
    *,
    tracking_uri: str | None = None,
    register: bool = True,
    registered_name: str = tracking.PROPENSITY_MODEL,
    source: str | None = None,
    links: pd.DataFrame | None = None,
    links_source: str | None = None,
) -> PropensityResult:
    """Fit at ``cutoff``, score every customer, log the run (and register the model).
    ``links`` (the output of ``link-customers``): each channel's customer ID becomes the
    person's before any feature or SKU repurchase rate; the run records what merged."""
    cfg = config or PropensityConfig()
    tx = validate(transactions, TRANSACTIONS, source or "<transactions>")
    tx, merged = linked(tx, links, links_source or "<links>")
    # the run spans the whole work (its duration in the UI is the job's)
    with tracking.start_run("propensity", "train-propensity", tracking_uri=tracking_uri) as run:
        with stage(f"propensity: fit at {pd.Timestamp(cutoff).date()}"):
            model = PropensityModel(cfg).fit(tx, cutoff)
        with stage("propensity: customers scored, SKU repurchase rates"):
            scores = model.predict(tx, cutoff)
            metrics = holdout_metrics(model)
            rates = sku_repurchase_rates(tx, cutoff, cfg.horizon_days)
        result = PropensityResult(model, scores, metrics, rates)
        tracking.log_config(cfg, "propensity")
        tracking.log_params(
            {
                "data.source": source or "<DataFrame>",
                "data.n_customers": len(scores),
                "data.n_transactions": len(tx),
                "cutoff": str(pd.Timestamp(cutoff).date()),
                "train_cutoffs": ",".join(getattr(model, "train_cutoffs_", [])),
                "holdout_cutoff": str(getattr(model, "holdout_cutoff_", None)),
                "strategy": model.strategy_,
                "data.links": links_source or ("<DataFrame>" if links is not None else ""),
            }
        )
        tracking.log_metrics(merged)
        tracking.set_tags({"strategy": model.strategy_})
        if getattr(model, "reason_", None):
            tracking.set_tags({"strategy_reason": model.reason_})
        tracking.log_metrics(
            {
                "season_shift_logodds": float(getattr(model, "season_shift_", 0.0)),
                "mean_score": float(scores["score"].mean()),
                "expected_repurchasers": float(scores["score"].sum()),
            }
        )
        for _, row in metrics.iterrows():
            tracking.log_metrics(
                {
                    f"holdout_{row['scorer']}_{k}": float(v)
                    for k, v in row.items()
                    if k != "scorer" and pd.notna(v)
                }
            )
        tracking.log_table(metrics, "evaluation/holdout_metrics.parquet")
        tracking.log_table(rates, "sku_repurchase_rates.parquet")
        if not metrics.empty:
            hold = model.holdout_scores_
            y = hold["label"].to_numpy()
            table = calibration_table(
                y, {k: hold[k].to_numpy() for k in ("model", "bgnbd", "blend")}
            )
            tracking.log_table(table, "evaluation/calibration.parquet")
            tracking.log_figure(calibration_plot(table), "plots/calibration.png")
            tracking.log_figure(importance_plot(model), "plots/feature_importance.png")
        if register:
            example = tx[tx["customer_id"].isin(tx["customer_id"].drop_duplicates().head(3))]
            info = log_propensity_model(model, example.head(50), registered_name)
            result.model_version = str(info.registered_model_version)
        record_training_data(model, tx, registered_name, result.model_version, tracking_uri)
        result.run_id = run.info.run_id
    return result
