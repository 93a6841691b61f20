"""The direct horizon LightGBM: each series' mean demand per period over the next
``horizon`` periods, one prediction per series instead of ``horizon`` recursive ones.

From the same features as the recursive LightGBM, its target is the mean of the ``horizon``
periods after the last period those features see (the first lag, 7 days for daily data,
before their own period). At predict time it runs on the features of the period one first
lag after the end of the data, which read no period after the end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forecasting.configs import lgb_threads
from forecasting.demand.boosting import (
    feature_columns,
    held_exog,
    lgb_frame,
    make_mlf,
    training_rows,
    warmup,
)
from forecasting.demand.candidates import LGB, quiet
from forecasting.demand.config import DemandConfig
from forecasting.demand.covariates import Calendar, apply_plan, with_calendar
from forecasting.demand.panel import latest


def forward_mean(ids: np.ndarray, y: np.ndarray, h: int) -> np.ndarray:
    """Per row of a panel sorted by series and period (consecutive periods), the mean of
    ``y`` over that row and the ``h - 1`` after it in the same series; NaN where the series
    ends sooner. (A cumulative-sum window: no library offers a forward one over groups.)"""
    n = len(y)
    out = np.full(n, np.nan)
    if n < h:
        return out
    csum = np.concatenate([[0.0], np.cumsum(y, dtype="float64")])
    last = np.arange(h - 1, n)
    same = ids[last] == ids[: n - h + 1]
    out[: n - h + 1] = np.where(same, (csum[h:] - csum[: n - h + 1]) / h, np.nan)
    return out


def fit_horizon_booster(
    panel: pd.DataFrame,
    cfg: DemandConfig,
    exog: list[str],
    statics: list[str],
    calendar: Calendar | None = None,
) -> Any:
    """The direct horizon LightGBM's booster, on the rows the recursive one learns from:
    the features of each period, the target the mean of the next ``horizon`` periods
    after its first lag (rows without them are left out)."""
    from sklearn.base import clone

    data = training_rows(panel, cfg, extra=cfg.horizon)
    mlf = make_mlf(cfg)
    with quiet():
        prep = mlf.preprocess(lgb_frame(data, exog, statics, calendar), static_features=statics)
    ids = prep["unique_id"].to_numpy()
    ahead = forward_mean(ids, prep["y"].to_numpy(), cfg.horizon)
    # a row's features see the series up to `first lag` periods before it: its target is
    # the horizon right after that, so the forecast from the features of the first-lag
    # step ahead uses every period up to the end of the data
    k = min(cfg.lag_list) - 1
    if k > 0:
        shifted = np.full(len(ahead), np.nan)
        shifted[k:] = np.where(ids[k:] == ids[:-k], ahead[:-k], np.nan)
        ahead = shifted
    rows = ~np.isnan(ahead)
    X = prep.loc[rows, feature_columns(mlf)]
    del prep
    with quiet():
        model = clone(mlf.models[LGB]).fit(X, ahead[rows])
    return model.booster_


def predict_horizon_booster(
    panel: pd.DataFrame,
    booster: Any,
    cfg: DemandConfig,
    exog: list[str],
    statics: list[str],
    calendar: Calendar | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The direct model's forecast per series (``unique_id``, ``LightGBM``): mlforecast's
    ``preprocess`` computes the features, as in training, on the latest history with the
    first-lag periods appended as placeholders (demand 0, the plan's price and promotion,
    else the last price and none, the calendar's features): one booster call, no
    recursion."""
    step = min(cfg.lag_list)
    recent = lgb_frame(latest(panel, warmup(cfg) + 1, cfg), exog, statics)
    ids = recent["unique_id"].to_numpy()
    last = recent.iloc[np.flatnonzero(np.append(ids[1:] != ids[:-1], True))]
    end = panel["ds"].max()
    dates = pd.date_range(end, periods=step + 1, freq=cfg.pandas_freq)[1:]
    ahead = last.iloc[np.repeat(np.arange(len(last)), step)].assign(
        ds=np.tile(dates.to_numpy(), len(last)), y=0.0
    )
    held = held_exog(recent, exog).reindex(ahead["unique_id"].to_numpy())
    for col in exog:
        ahead[col] = held[col].to_numpy()
    ahead = apply_plan(ahead.reset_index(drop=True), plan, exog)
    frame = pd.concat([recent, ahead], ignore_index=True)
    frame = frame.iloc[np.argsort(frame["unique_id"].to_numpy(), kind="stable")]
    frame = with_calendar(frame, calendar)
    mlf = make_mlf(cfg)
    with quiet():
        prep = mlf.preprocess(frame, static_features=statics, dropna=False)
    rows = (prep["ds"] == dates[-1]).to_numpy()
    X = prep.loc[rows, feature_columns(mlf)]
    pred = np.clip(np.asarray(booster.predict(X, num_threads=lgb_threads(cfg.n_jobs))), 0.0, None)
    return pd.DataFrame({"unique_id": prep.loc[rows, "unique_id"].to_numpy(), LGB: pred})
