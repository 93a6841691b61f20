"""Plots of a propensity training, logged as MLflow artifacts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def calibration_plot(table: pd.DataFrame) -> Any:
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


def importance_plot(model: Any) -> Any:
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    gain = np.asarray(model.booster_.feature_importance(importance_type="gain"))
    order = np.argsort(gain)[-20:]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh(np.array(model.feature_names_)[order], gain[order] / gain.sum())
    ax.set_xlabel("share of total gain")
    ax.set_title("LightGBM feature importance")
    fig.tight_layout()
    return fig
