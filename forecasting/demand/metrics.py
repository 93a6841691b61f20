"""Forecast accuracy per series, per demand class and overall, with utilsforecast's losses.

MASE and RMSSE are scaled by the one-step naive forecast's in-sample MAE / MSE on the
training data (as in the M5 competition); bias is mean(forecast - actual); the scaled
pinball loss is utilsforecast's ``scaled_quantile_loss`` averaged over the quantiles.
Revenue-weighted RMSSE weighs each series by its share of training revenue (units without
prices).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from utilsforecast.losses import bias, mase, rmsse, scaled_quantile_loss

ID = "unique_id"


def series_metrics(
    df: pd.DataFrame,
    train: pd.DataFrame | None,
    models: Sequence[str],
    quantiles: Mapping[str, Mapping[float, str]] | None = None,
    scales: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table ``unique_id, model, mase, rmsse, bias[, scaled_pinball]``.

    ``df`` has ``unique_id, ds, y`` and one column per model; ``train`` has
    ``unique_id, ds, y``; ``quantiles`` maps a model to ``{q: column}``. ``scales``
    (indexed by ``unique_id``: ``mase_scale``, ``rmsse_scale``, the naive forecast's
    in-sample MAE and MSE) stands in for ``train`` when the training data is too large
    to pass over again.
    """
    models = list(models)
    if scales is not None:
        return _metrics_from_scales(df, models, quantiles, scales)
    assert train is not None, "give the training data or its scales"
    frame = df[[ID, "ds", "y", *models, *_qcols(quantiles)]]
    ids = frame[ID].unique()
    train = train[train[ID].isin(ids)][[ID, "ds", "y"]]
    parts = {
        "mase": mase(frame, models, seasonality=1, train_df=train),
        "rmsse": rmsse(frame, models, seasonality=1, train_df=train),
        "bias": bias(frame, models),
    }
    long = [
        p.melt(id_vars=ID, value_vars=models, var_name="model", value_name=name).set_index(
            [ID, "model"]
        )
        for name, p in parts.items()
    ]
    out = pd.concat(long, axis=1)
    if quantiles:
        pins = []
        for model, cols in quantiles.items():
            per_q = [
                scaled_quantile_loss(
                    frame, {model: col}, seasonality=1, train_df=train, q=q
                ).set_index(ID)[model]
                for q, col in cols.items()
            ]
            pin = pd.concat(per_q, axis=1).mean(axis=1).rename("scaled_pinball").to_frame()
            pin["model"] = model
            pins.append(pin.reset_index().set_index([ID, "model"]))
        out = out.join(pd.concat(pins), how="left")
    return out.replace([np.inf, -np.inf], np.nan).reset_index()


def _metrics_from_scales(
    df: pd.DataFrame,
    models: list[str],
    quantiles: Mapping[str, Mapping[float, str]] | None,
    scales: pd.DataFrame,
) -> pd.DataFrame:
    """`series_metrics` with known scales: the same definitions as utilsforecast's losses
    (MAE / naive MAE, sqrt(MSE / naive MSE), pinball / naive MAE), grouped once."""
    ids = df[ID].to_numpy()
    y = df["y"].to_numpy(dtype="float64")
    floor = 1e-6  # a constant series: no scale, no scaled metric (as utilsforecast's inf)
    mase_scale = scales["mase_scale"].where(scales["mase_scale"] > floor)
    rmsse_scale = scales["rmsse_scale"].where(scales["rmsse_scale"] > floor)
    cols: dict[str, np.ndarray] = {}
    for m in models:
        e = df[m].to_numpy(dtype="float64") - y
        cols[f"{m}\0ae"], cols[f"{m}\0se"], cols[f"{m}\0e"] = np.abs(e), e**2, e
    for model, qs in (quantiles or {}).items():
        for q, col in qs.items():
            delta = y - df[col].to_numpy(dtype="float64")
            cols[f"{model}\0pin{q}"] = np.maximum(q * delta, (q - 1) * delta)
    means = pd.DataFrame(cols).groupby(ids, sort=True).mean()
    mase_s = mase_scale.reindex(means.index).to_numpy()
    rmsse_s = rmsse_scale.reindex(means.index).to_numpy()
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


def _qcols(quantiles: Mapping[str, Mapping[float, str]] | None) -> list[str]:
    if not quantiles:
        return []
    return list(dict.fromkeys(c for cols in quantiles.values() for c in cols.values()))
