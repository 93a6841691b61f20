"""Plots logged with demand runs (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forecasting.demand.classification import ADI_CUTOFF, CV2_CUTOFF, DEMAND_CLASSES


def _plt() -> Any:
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    return plt


def adi_cv2_scatter(classes: pd.DataFrame, title: str = "Syntetos-Boylan classes") -> Any:
    """The ADI / CV^2 scatter with the cut-offs, one colour per class."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, group in classes.groupby("demand_class"):
        ax.scatter(group["adi"], group["cv2"], s=8, alpha=0.6, label=f"{name} ({len(group)})")
    ax.axvline(ADI_CUTOFF, color="grey", lw=1, ls="--")
    ax.axhline(CV2_CUTOFF, color="grey", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("ADI (periods per sale, log scale)")
    ax.set_ylabel("CV² of demand sizes")
    ax.set_title(title)
    ax.legend(fontsize=8)
    finite = classes["cv2"].replace([np.inf, -np.inf], np.nan).dropna()
    if len(finite):
        ax.set_ylim(0, max(1.0, float(finite.quantile(0.99)) * 1.1))
    fig.tight_layout()
    return fig


def forecast_vs_actual(
    backtest: pd.DataFrame,
    history: pd.DataFrame,
    lo: str,
    hi: str,
    per_class: int = 2,
    seed: int = 0,
) -> Any:
    """Last backtest window of sample series of each class: history, actuals, forecast, band.

    ``backtest`` has ``unique_id, sku_id, channel, ds, cutoff, y, forecast, demand_class`` and
    the ``lo`` / ``hi`` columns; ``history`` is the panel (``unique_id, ds, y``).
    """
    plt = _plt()
    last = backtest[backtest["cutoff"] == backtest["cutoff"].max()]
    rng = np.random.default_rng(seed)
    picks: list[tuple[str, int]] = []
    for cls in DEMAND_CLASSES:
        ids = np.sort(last.loc[last["demand_class"] == cls, "unique_id"].unique())
        for uid in (
            rng.choice(ids, size=min(per_class, len(ids)), replace=False) if len(ids) else []
        ):
            picks.append((cls, int(uid)))
    n = max(len(picks), 1)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.2 * n), squeeze=False)
    for ax, (cls, uid) in zip(axes[:, 0], picks, strict=False):
        win = last[last["unique_id"] == uid].sort_values("ds")
        start = win["ds"].min()
        span = win["ds"].max() - start
        past = history[(history["unique_id"] == uid) & (history["ds"] < start)]
        past = past[past["ds"] >= start - 3 * span]
        ax.plot(past["ds"], past["y"], color="black", lw=0.8, label="history")
        ax.plot(win["ds"], win["y"], color="black", lw=0.8, ls=":", label="actual")
        ax.plot(win["ds"], win["forecast"], color="C0", lw=1.5, label="forecast")
        ax.fill_between(win["ds"], win[lo], win[hi], color="C0", alpha=0.2, label=f"{lo}..{hi}")
        ax.set_title(f"{win['sku_id'].iloc[0]} / {win['channel'].iloc[0]} ({cls})", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
