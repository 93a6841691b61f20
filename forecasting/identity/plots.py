"""Plots of a linkage, logged as MLflow artifacts: what each agreement is worth (the match
weights), and how a few pairs' scores add up (waterfalls)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def match_weights_plot(parameters: pd.DataFrame) -> Any:
    """One bar per comparison level: log2(m / u), the evidence that level gives."""
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    p = parameters.dropna(subset=["match_weight"]).iloc[::-1]
    labels = [f"{c}: {str(lv)[:45]}" for c, lv in zip(p["comparison"], p["level"], strict=True)]
    weights = p["match_weight"].clip(-20, 20).to_numpy()
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.28 * len(p))))
    ax.barh(labels, weights, color=np.where(weights >= 0, "tab:green", "tab:red"))
    ax.axvline(0, color="grey", lw=1)
    ax.set_xlabel("match weight, log2(m / u) (clipped at +-20)")
    ax.set_title("What each agreement says: Splink's model")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def waterfall_plot(pairs: pd.DataFrame, prior_weight: float, n: int = 3) -> Any | None:
    """The match weight of ``n`` pairs built up from the prior, one step per comparison
    (``bf_*`` columns of Splink's predictions): the strongest, the median and the weakest
    link kept. None when there is no pair."""
    import matplotlib.pyplot as plt

    bf = [c for c in pairs.columns if c.startswith("bf_") and not c.startswith("bf_tf_")]
    if pairs.empty or not bf:
        return None
    ranked = pairs.sort_values("match_weight", ascending=False).reset_index(drop=True)
    picks = sorted({0, len(ranked) // 2, len(ranked) - 1})[:n]
    fig, axes = plt.subplots(1, len(picks), figsize=(4.5 * len(picks), 4), squeeze=False)
    for ax, i in zip(axes[0], picks, strict=True):
        row = ranked.iloc[i]
        steps = [prior_weight] + [
            float(np.log2(row[c])) if row[c] and row[c] > 0 else 0.0 for c in bf
        ]
        names = ["prior"] + [c[3:] for c in bf]
        starts = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
        ax.bar(
            names,
            steps,
            bottom=starts,
            color=["grey"] + ["tab:green" if s >= 0 else "tab:red" for s in steps[1:]],
        )
        ax.axhline(float(np.sum(steps)), color="black", lw=1, ls="--")
        ax.set_title(
            f"{row['record_id_l']} ~ {row['record_id_r']}\np = {row['match_probability']:.4f}",
            fontsize=9,
        )
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        ax.set_ylabel("match weight")
    fig.tight_layout()
    return fig
