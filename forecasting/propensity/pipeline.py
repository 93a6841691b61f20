"""`train_propensity`: fit at a cutoff, score every customer, track the run in MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting import tracking
from forecasting.data.contracts import TRANSACTIONS, validate
from forecasting.propensity.metrics import calibration_table, score_metrics
from forecasting.propensity.model import PropensityConfig, PropensityModel
from forecasting.propensity.repurchase import sku_repurchase_rates


@dataclass
class PropensityResult:
    model: PropensityModel
    scores: pd.DataFrame  # customer_id, score, score_model, score_bgnbd
    holdout_metrics: pd.DataFrame  # per scorer: AUC, PR AUC, Brier, log loss, lift, expected
    sku_rates: pd.DataFrame  # sku_id, buyers, repurchasers, observed_rate, predicted_rate
    run_id: str | None = None
    model_version: str | None = None


def holdout_metrics(model: PropensityModel) -> pd.DataFrame:
    """Metrics of the model, BG/NBD and their blend on the held-out customers of the most
    recent labelled cutoff (out of time, not used for fitting or calibration)."""
    frame = getattr(model, "holdout_scores_", None)
    if frame is None or frame.empty:
        return pd.DataFrame()
    rows = [
        {"scorer": name, **score_metrics(frame["label"].to_numpy(), frame[name].to_numpy())}
        for name in ("model", "bgnbd", "blend")
    ]
    return pd.DataFrame(rows)


def train_propensity(
    transactions: pd.DataFrame,
    cutoff: str | pd.Timestamp,
    config: PropensityConfig | None = None,
    *,
    tracking_uri: str | None = None,
    register: bool = True,
    registered_name: str = tracking.PROPENSITY_MODEL,
    source: str | None = None,
) -> PropensityResult:
    import mlflow

    cfg = config or PropensityConfig()
    tx = validate(transactions, TRANSACTIONS, source or "<transactions>")
    model = PropensityModel(cfg).fit(tx, cutoff)
    scores = model.predict(tx, cutoff)
    metrics = holdout_metrics(model)
    rates = sku_repurchase_rates(tx, cutoff, cfg.horizon_days)
    result = PropensityResult(model, scores, metrics, rates)
    with tracking.start_run("propensity", "train-propensity", tracking_uri=tracking_uri) as run:
        tracking.log_config(cfg, "propensity")
        mlflow.log_params(
            {
                "data.source": source or "<DataFrame>",
                "data.n_customers": len(scores),
                "data.n_transactions": len(tx),
                "cutoff": str(pd.Timestamp(cutoff).date()),
                "train_cutoffs": ",".join(getattr(model, "train_cutoffs_", [])),
                "holdout_cutoff": str(getattr(model, "holdout_cutoff_", None)),
                "strategy": model.strategy_,
            }
        )
        mlflow.set_tag("strategy", model.strategy_)
        if getattr(model, "reason_", None):
            mlflow.set_tag("strategy_reason", model.reason_)
        mlflow.log_metrics(
            {
                "season_shift_logodds": float(getattr(model, "season_shift_", 0.0)),
                "mean_score": float(scores["score"].mean()),
                "expected_repurchasers": float(scores["score"].sum()),
            }
        )
        for _, row in metrics.iterrows():
            mlflow.log_metrics(
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
            tracking.log_figure(_calibration_plot(table), "plots/calibration.png")
            tracking.log_figure(_importance_plot(model), "plots/feature_importance.png")
        if register:
            from forecasting.tracking.models import log_propensity_model

            example = tx[tx["customer_id"].isin(tx["customer_id"].drop_duplicates().head(3))]
            info = log_propensity_model(model, example.head(50), registered_name)
            result.model_version = str(info.registered_model_version)
        result.run_id = run.info.run_id
    return result


def _calibration_plot(table: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, g in table.groupby("scorer"):
        ax.plot(g["predicted"], g["observed"], marker="o", ms=3, label=str(name))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.set_xlabel("predicted probability (decile mean)")
    ax.set_ylabel("observed repurchase rate")
    ax.set_title("Calibration on held-out customers")
    ax.legend()
    fig.tight_layout()
    return fig


def _importance_plot(model: PropensityModel) -> Any:
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    gain = np.asarray(model.booster_.feature_importance(importance_type="gain"))
    order = np.argsort(gain)[-20:]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh(np.array(model.feature_names_)[order], gain[order] / gain.sum())
    ax.set_xlabel("share of total gain")
    ax.set_title("LightGBM feature importance")
    fig.tight_layout()
    return fig
