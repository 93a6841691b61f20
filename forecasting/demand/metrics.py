"""Scaled forecast accuracy: one implementation of the naive scales and of MASE, RMSSE,
bias and the scaled pinball loss, per series, per demand class and overall.

MASE and RMSSE are scaled by the one-step naive forecast's in-sample MAE / MSE on the
training data (as in the M5 competition); bias is mean(forecast - actual); the scaled
pinball loss is the pinball loss averaged over the quantiles, divided by the naive MAE.
These are the definitions of ``utilsforecast.losses`` (``mase``, ``rmsse``, ``bias``,
``scaled_quantile_loss`` with seasonality 1; tested against them), computed here from the
scales with one grouped mean instead of one pass over the training data per metric: the
backtest of 30,000 series has the scales already. Revenue-weighted RMSSE weighs each series
by its share of training revenue (units without prices).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

ID = "unique_id"
#: A naive scale at or below this is no scale (a constant series): its scaled metrics are
#: undefined (NaN), as utilsforecast's are infinite.
SCALE_FLOOR = 1e-6


def naive_scales(train: pd.DataFrame, cutoff: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per series, from the rows of ``train`` (``unique_id, ds, y``) up to ``cutoff``: MAE
    and MSE of the one-step naive forecast (``mase_scale``, ``rmsse_scale``) and the mean
    demand (``level``), floored at `SCALE_FLOOR`. A panel sorted by series and period with
    integer ``unique_id`` codes (the forecaster's) is read without a copy."""
    uid = train[ID].to_numpy()
    if not np.issubdtype(uid.dtype, np.integer) or (len(uid) and uid.min() < 0):
        codes, names = pd.factorize(uid, sort=True)
        order = np.lexsort((train["ds"].to_numpy(), codes))
        frame = pd.DataFrame(
            {
                ID: codes[order],
                "ds": train["ds"].to_numpy()[order],
                "y": train["y"].to_numpy()[order],
            }
        )
        out = naive_scales(frame, cutoff)
        out.index = pd.Index(np.asarray(names, dtype=object)[out.index.to_numpy()], name=ID)
        return out
    y = train["y"].to_numpy(dtype="float64")
    inside = np.ones(len(y), dtype=bool) if cutoff is None else train["ds"].to_numpy() <= cutoff
    n = int(uid.max()) + 1 if len(uid) else 0
    rows = np.bincount(uid[inside], minlength=n)
    level_sum = np.bincount(uid[inside], weights=y[inside], minlength=n)
    step = (uid[1:] == uid[:-1]) & inside[1:] & inside[:-1]
    diff = (y[1:] - y[:-1])[step]
    owner = uid[1:][step]
    n_diff = np.bincount(owner, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = pd.DataFrame(
            {
                "mase_scale": np.bincount(owner, weights=np.abs(diff), minlength=n) / n_diff,
                "rmsse_scale": np.bincount(owner, weights=diff**2, minlength=n) / n_diff,
                "level": level_sum / rows,
            },
            index=pd.Index(np.arange(n), name=ID),
        )[rows > 0]
    return scale.fillna(SCALE_FLOOR).clip(lower=SCALE_FLOOR)


def _error_means(
    df: pd.DataFrame,
    models: Sequence[str],
    quantiles: Mapping[str, Mapping[float, str]] | None,
    by: Sequence[str] = (ID,),
) -> pd.DataFrame:
    """Per group of ``by`` (sorted), the mean absolute, squared and signed error of each
    model and the mean pinball loss of each quantile column: one grouped mean over all."""
    y = df["y"].to_numpy(dtype="float64")
    cols: dict[str, np.ndarray] = {}
    for m in models:
        e = df[m].to_numpy(dtype="float64") - y
        cols[f"{m}\0ae"], cols[f"{m}\0se"], cols[f"{m}\0e"] = np.abs(e), e**2, e
    for model, qs in (quantiles or {}).items():
        for q, col in qs.items():
            delta = y - df[col].to_numpy(dtype="float64")
            cols[f"{model}\0pin{q}"] = np.maximum(q * delta, (q - 1) * delta)
    keys = [df[k].to_numpy() for k in by]
    return pd.DataFrame(cols).groupby(keys if len(keys) > 1 else keys[0], sort=True).mean()


def series_metrics(
    df: pd.DataFrame,
    train: pd.DataFrame | None,
    models: Sequence[str],
    quantiles: Mapping[str, Mapping[float, str]] | None = None,
    scales: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table ``unique_id, model, mase, rmsse, bias[, scaled_pinball]``.

    ``df`` has ``unique_id, ds, y`` and one column per model; ``quantiles`` maps a model to
    ``{q: column}``. The scales come from ``train`` (``unique_id, ds, y``, `naive_scales`)
    or are given as ``scales`` (indexed by ``unique_id``).
    """
    models = list(models)
    if scales is None:
        if train is None:
            raise ValueError("give the training data or its scales")
        train = train[train[ID].isin(df[ID].unique())]
        scales = naive_scales(train[[ID, "ds", "y"]])
    means = _error_means(df, models, quantiles)
    mase_s = _usable(scales["mase_scale"]).reindex(means.index).to_numpy()
    rmsse_s = _usable(scales["rmsse_scale"]).reindex(means.index).to_numpy()
    parts = []
    for m in models:
        part = pd.DataFrame(
            {
                ID: means.index.to_numpy(),
                "model": m,
                "mase": means[f"{m}\0ae"].to_numpy() / mase_s,
                "rmsse": np.sqrt(means[f"{m}\0se"].to_numpy() / rmsse_s),
                "bias": means[f"{m}\0e"].to_numpy(),
            }
        )
        levels = (quantiles or {}).get(m)
        if levels:
            pin = np.mean([means[f"{m}\0pin{q}"].to_numpy() for q in levels], axis=0)
            part["scaled_pinball"] = pin / mase_s
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    return out.replace([np.inf, -np.inf], np.nan)


def per_series_scores(
    cv: pd.DataFrame, candidates: list[str], scales: pd.DataFrame, metric: str
) -> pd.DataFrame:
    """Per series and demand class (rows: a series in the class it had at its windows'
    origins) and candidate (columns): RMSSE or MASE over those windows, plus the row's
    ``demand_class``: what the per-class selection averages. Unlike `series_metrics`, a
    constant series keeps its floored scale (a large score), as the selection has always
    ranked it."""
    means = _error_means(cv, candidates, None, by=(ID, "demand_class"))
    ids = means.index.get_level_values(0)
    if metric == "mase":
        div = scales["mase_scale"].reindex(ids).to_numpy()
        score = pd.DataFrame({c: means[f"{c}\0ae"].to_numpy() / div for c in candidates})
    else:
        div = scales["rmsse_scale"].reindex(ids).to_numpy()
        score = pd.DataFrame({c: np.sqrt(means[f"{c}\0se"].to_numpy() / div) for c in candidates})
    score.index = means.index
    score["demand_class"] = means.index.get_level_values(1).to_numpy()
    return score


def _usable(scale: pd.Series) -> pd.Series:
    return scale.where(scale > SCALE_FLOOR)


def summarize(
    per_series: pd.DataFrame, classes: pd.Series, weights: pd.Series | None = None
) -> pd.DataFrame:
    """Mean metrics per model, overall and per demand class, plus revenue-weighted RMSSE.

    ``classes`` and ``weights`` are indexed by ``unique_id``.
    """
    df = per_series.copy()
    df["demand_class"] = df[ID].map(classes).fillna("unknown").to_numpy()
    metric_cols = [c for c in ("mase", "rmsse", "bias", "scaled_pinball") if c in df.columns]
    overall = df.groupby("model")[metric_cols].mean()
    overall["demand_class"] = "all"
    if weights is not None:
        w = df[ID].map(weights / weights.sum()).fillna(0.0)
        df["_wr"] = df["rmsse"] * w
        df["_w"] = w.where(df["rmsse"].notna(), 0.0)
        g = df.groupby("model")
        overall["wrmsse"] = g["_wr"].sum() / g["_w"].sum()
    by_class = df.groupby(["model", "demand_class"])[metric_cols].mean().reset_index("demand_class")
    by_class["n_series"] = df.groupby(["model", "demand_class"]).size().to_numpy()
    overall["n_series"] = df.groupby("model").size()
    return pd.concat([overall, by_class]).reset_index()
