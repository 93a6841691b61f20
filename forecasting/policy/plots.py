"""Plots of the stocking decisions and of the policy simulation (matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LABELS = {"predictor": "elastic SKU (predictor)", "all_unified": "all unified (baseline)"}


def _plt() -> Any:
    import matplotlib.pyplot as plt

    return plt


def simulation_figures(result: Any) -> dict[str, Any]:
    """``{artifact name: figure}`` for a `SimulationResult`."""
    return {
        "simulation_inventory.png": inventory_path(result.daily),
        "simulation_metrics.png": metric_bars(result.summary),
        "simulation_cover_end.png": cover_at_end(result.per_sku),
    }


def inventory_path(daily: pd.DataFrame) -> Any:
    """Inventory value at cost per period under each policy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for policy, g in daily.groupby("policy", sort=False):
        ax.plot(g["ds"], g["inventory_value"], label=LABELS.get(str(policy), str(policy)))
    ax.set_ylabel("inventory value at cost")
    ax.set_title("Inventory over the held-out periods")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def metric_bars(summary: pd.DataFrame) -> Any:
    """Fill rate, turnover days and slow-mover share side by side."""
    plt = _plt()
    metrics = [
        ("fill_rate", "fill rate"),
        ("turnover_days", "turnover days"),
        ("slow_mover_share_end", "slow-mover share at end"),
    ]
    fig, axes = plt.subplots(1, len(metrics), figsize=(10, 3.5))
    s = summary.set_index("policy")
    for ax, (col, title) in zip(axes, metrics, strict=True):
        values = s[col].astype(float)
        ax.bar([LABELS.get(str(p), str(p)).split(" (")[0] for p in values.index], values)
        for i, v in enumerate(values):
            ax.annotate(f"{v:.2f}", (i, v), ha="center", va="bottom")
        ax.set_title(title)
    fig.tight_layout()
    return fig


def cover_at_end(per_sku: pd.DataFrame) -> Any:
    """Distribution of weeks of cover at the end, per policy (log scale, capped)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for policy, g in per_sku.groupby("policy", sort=False):
        cover = g["weeks_of_cover_end"].replace(np.inf, 1e3).clip(upper=1e3)
        ax.hist(np.log10(cover + 0.1), bins=40, alpha=0.5, label=LABELS.get(str(policy)))
    ax.set_xlabel("log10(weeks of cover at the end + 0.1); inf shown as 1000")
    ax.set_ylabel("SKUs")
    ax.legend()
    fig.tight_layout()
    return fig


def decision_map(decisions: pd.DataFrame) -> Any:
    """Each SKU's expected cost unified vs tiered (log-log), coloured by the decision and
    marked when flagged as a slow mover."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    for stocking, g in decisions.groupby("stocking"):
        ax.scatter(
            g["expected_cost_unified"].clip(lower=1e-2),
            g["expected_cost_tiered"].clip(lower=1e-2),
            s=10,
            alpha=0.6,
            label=f"{stocking} ({len(g)})",
        )
    slow = decisions[decisions["slow_mover"]]
    ax.scatter(
        slow["expected_cost_unified"].clip(lower=1e-2),
        slow["expected_cost_tiered"].clip(lower=1e-2),
        s=30,
        facecolors="none",
        edgecolors="black",
        label=f"slow mover ({len(slow)})",
    )
    lim = [
        float(decisions[["expected_cost_unified", "expected_cost_tiered"]].min().min()),
        float(decisions[["expected_cost_unified", "expected_cost_tiered"]].max().max()),
    ]
    ax.plot(lim, lim, color="grey", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("expected cost, unified")
    ax.set_ylabel("expected cost, tiered")
    ax.set_title("Stocking decision per SKU")
    ax.legend()
    fig.tight_layout()
    return fig
