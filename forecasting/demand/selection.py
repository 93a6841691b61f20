"""Candidates and their per-class selection: single models and the mean of LightGBM with
each local model; per Syntetos-Boylan class the candidate with the lowest mean score."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecasting.demand.candidates import LGB
from forecasting.demand.classification import DEMAND_CLASSES
from forecasting.demand.config import DemandConfig
from forecasting.errors import FallbackWarning

#: Fallback selection per class when there is too little history to cross-validate.
DEFAULT_SELECTION: dict[str, tuple[str, ...]] = {
    "smooth": ("AutoETS",),
    "erratic": ("AutoETS",),
    "intermittent": ("CrostonSBA",),
    "lumpy": ("CrostonSBA",),
}
NOT_CANDIDATES = ("unique_id", "ds", "cutoff", "y", "demand_class", "forecast")


def candidate_columns(cv: pd.DataFrame) -> list[str]:
    """The candidates' columns of a backtest frame."""
    return [c for c in cv.columns if c not in NOT_CANDIDATES and not c.startswith("forecast-")]


def members(candidate: str) -> tuple[str, ...]:
    """The models a candidate averages (``LightGBM+CrostonSBA`` -> both)."""
    return tuple(candidate.split("+"))


def uses_lgb(selection: dict[str, tuple[str, ...]]) -> bool:
    return any(LGB in models for models in selection.values())


def needed_models(selection: dict[str, tuple[str, ...]]) -> list[str]:
    """Every model some class of ``selection`` uses."""
    return sorted({m for models in selection.values() for m in models})


def with_ensembles(cv: pd.DataFrame, cfg: DemandConfig) -> pd.DataFrame:
    """The mean of LightGBM and each local model, as candidates of their own."""
    models = [c for c in cv.columns if c not in NOT_CANDIDATES]
    if cfg.ensembles and LGB in models:
        for model in [c for c in models if c != LGB and "+" not in c]:
            cv[f"{LGB}+{model}"] = (cv[LGB] + cv[model]) / 2
    return cv


def select(scores: pd.DataFrame, candidates: list[str]) -> dict[str, tuple[str, ...]]:
    """Per class the candidate with the lowest mean score; ``_default`` is the overall best."""
    by_class = scores.groupby("demand_class")[candidates].mean()
    selection: dict[str, tuple[str, ...]] = {
        str(cls): members(str(row.idxmin())) for cls, row in by_class.iterrows()
    }
    selection["_default"] = members(str(scores[candidates].mean().idxmin()))
    for cls in DEMAND_CLASSES:
        selection.setdefault(cls, selection["_default"])
    return selection


def combine(frame: pd.DataFrame, selection: dict[str, tuple[str, ...]]) -> np.ndarray:
    """The point forecast of each row: the mean of its class's selected models."""
    out = np.full(len(frame), np.nan)
    classes = frame["demand_class"].to_numpy()
    fallback = selection.get("_default") or next(iter(selection.values()))
    for cls in np.unique(classes):
        chosen = list(selection.get(str(cls), fallback))
        rows = classes == cls
        out[rows] = frame.loc[rows, chosen].mean(axis=1).to_numpy()
    return out


def warn_fallbacks(counts: dict[str, int], where: str) -> None:
    """One `FallbackWarning` naming each model that needed a stand-in and for how many
    series."""
    if counts:
        said = ", ".join(f"{m} on {n} series" for m, n in sorted(counts.items()))
        warnings.warn(
            f"{where}: the other models' mean stood in for {said}",
            FallbackWarning,
            stacklevel=3,
        )
