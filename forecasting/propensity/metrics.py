"""Classification metrics of repurchase scores (scikit-learn), one dict per scorer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, log loss, top-decile lift, expected vs actual repurchasers."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    out: dict[str, float] = {
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "expected_repurchasers": float(p.sum()),
        "actual_repurchasers": float(y.sum()),
        "expected_vs_actual_pct": float(100 * (p.sum() / max(y.sum(), 1) - 1)),
    }
    if len(np.unique(y)) == 2:
        out["roc_auc"] = float(roc_auc_score(y, p))
        out["pr_auc"] = float(average_precision_score(y, p))
        top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
        out["lift_top_decile"] = float(y[top].mean() / max(y.mean(), 1e-12))
    return out


def paired_bootstrap_auc(
    y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """AUC(a) - AUC(b) with a 95% paired-bootstrap interval (customers resampled)."""
    rng = np.random.default_rng(seed)
    y, p_a, p_b = (np.asarray(v) for v in (y, p_a, p_b))
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) < 2:
            continue
        diffs.append(roc_auc_score(y[idx], p_a[idx]) - roc_auc_score(y[idx], p_b[idx]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {
        "diff": float(roc_auc_score(y, p_a) - roc_auc_score(y, p_b)),
        "ci95": [float(lo), float(hi)],
        "n_boot": len(diffs),
    }


def calibration_table(y: np.ndarray, scores: dict[str, np.ndarray], bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate per quantile bin of each scorer."""
    from sklearn.calibration import calibration_curve

    rows = []
    for name, p in scores.items():
        observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
        rows.append(pd.DataFrame({"scorer": name, "predicted": predicted, "observed": observed}))
    return pd.concat(rows, ignore_index=True)


def holdout_metrics(model: Any) -> pd.DataFrame:
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
