"""The rolling-origin backtest of every candidate on the training data.

AutoETS and SeasonalNaive support ``refit=False`` (fit once, then forward the state); the
intermittent-demand models are cheap and are refit at every window. Costly models
(AutoETS, ~50 ms a series against ~0.1 ms for the Croston family) are backtested first on a
seeded sample of each costly class; they are backtested on the rest of a class only when a
candidate that uses them wins on the sample, else dropped there (`screen_costly`).

Every window gets what serving would have had at its origin: LightGBM is trained once on the
periods up to the first origin and forecasts each window through `boosting.predict_lgb`,
the serving path, from the history up to that origin, with the future features serving
has: the calendar's, and the last price held with no promotion (`boosting.held_exog`)
unless serving is given a plan, when the window's own prices and promotions are its plan;
each row's demand class
is the one of its series on the data up to its origin; the naive scales come from the
data up to the first origin. A model that cannot forecast some rows gets the mean of the
other models there, counted in ``Backtest.fallbacks``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.demand.boosting import (
    booster_of,
    fit_lgb,
    history_needed,
    predict_lgb,
    trainable,
)
from forecasting.demand.candidates import (
    LGB,
    cv_groups,
    fill_nan_models,
    local_jobs,
    make_sf,
    run_local,
)
from forecasting.demand.classification import panel_classes
from forecasting.demand.config import COSTLY_MODELS, DemandConfig
from forecasting.demand.covariates import Calendar
from forecasting.demand.metrics import naive_scales, per_series_scores
from forecasting.demand.panel import exog_columns, latest
from forecasting.demand.selection import candidate_columns, members, with_ensembles
from forecasting.errors import FallbackWarning, ShortHistoryWarning
from forecasting.progress import stage

CV_KEYS = ["unique_id", "ds", "cutoff"]


@dataclass
class Backtest:
    """What the backtest gives the forecaster."""

    cv: pd.DataFrame  # unique_id, ds, cutoff, y and one column per model
    scales: pd.DataFrame  # per series: naive MAE / MSE before the first cutoff, mean demand
    n_series: int  # series long enough to backtest
    n_windows: int
    screening: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # per model: series with rows it could not forecast (filled with the other models' mean)
    fallbacks: dict[str, int] = field(default_factory=dict)


def n_windows_for(lengths: pd.Series, cfg: DemandConfig) -> tuple[int, int]:
    """(windows, minimum series length): as many windows as the history of at least half of
    the series allows."""
    h, step = cfg.horizon, cfg.step
    min_train = max(cfg.season + 1, 10) if cfg.season <= 24 else 10
    nw = cfg.n_windows
    while nw > 1 and (lengths >= h + step * (nw - 1) + min_train).mean() < 0.5:
        nw -= 1
    return nw, h + step * (nw - 1) + min_train


def cutoffs_for(end: pd.Timestamp, nw: int, cfg: DemandConfig) -> list[pd.Timestamp]:
    """The windows' origins (last period each window's models may see), oldest first: as
    statsforecast's and mlforecast's ``cross_validation`` place them."""
    offset = pd.tseries.frequencies.to_offset(cfg.pandas_freq)
    return [end - offset * (cfg.horizon + cfg.step * k) for k in reversed(range(nw))]


def origin_classes(
    panel: pd.DataFrame, keys: pd.DataFrame, cutoffs: list[pd.Timestamp]
) -> pd.DataFrame:
    """``unique_id, cutoff, demand_class``: each series' class on the data up to each origin."""
    return pd.concat(
        [panel_classes(panel, keys, until=c).assign(cutoff=c) for c in cutoffs],
        ignore_index=True,
    )


def backtest(
    panel: pd.DataFrame,
    cfg: DemandConfig,
    keys: pd.DataFrame,
    statics: list[str],
    spark: Any = None,
    calendar: Calendar | None = None,
    planned: bool = False,
) -> Backtest:
    """Backtest the local models and LightGBM on the series long enough for the windows;
    the result's ``cv`` has each row's ``demand_class`` at its origin. LightGBM gets the
    ``calendar``'s features and, when ``planned`` (a plan of prices and promotions is
    given for serving), each window's own prices and promotions as its plan."""
    h, step = cfg.horizon, cfg.step
    lengths = panel.groupby("unique_id", sort=False).size()
    nw, min_length = n_windows_for(lengths, cfg)
    if nw < cfg.n_windows:
        warnings.warn(
            f"history too short for {cfg.n_windows} backtest windows of {h} periods; using {nw}",
            ShortHistoryWarning,
            stacklevel=4,
        )
    long_ids = lengths.index[lengths >= min_length]
    data = panel if len(long_ids) == len(lengths) else panel[panel["unique_id"].isin(long_ids)]
    empty = pd.DataFrame(columns=[*CV_KEYS, "y"])
    if data.empty:
        return Backtest(empty, naive_scales(data), 0, nw)
    cutoffs = cutoffs_for(data["ds"].max(), nw, cfg)
    result = Backtest(empty, naive_scales(data, cutoffs[0]), 0, nw)
    classes = origin_classes(data, keys, cutoffs)
    series_class = classes[classes["cutoff"] == cutoffs[-1]]  # the latest known: sampling
    t = time.perf_counter()
    hist = cfg.history_periods
    holdout = h + step * (nw - 1)
    local_data = latest(data, hist + holdout, cfg) if hist else data
    sample = costly_sample(local_data, cfg, series_class, result)
    sampled = np.concatenate(
        [np.empty(0, dtype=np.int64), *(np.asarray(v, dtype=np.int64) for v in sample.values())]
    )
    frames = []
    groups = cv_groups(cfg)
    with stage(f"backtest: local models, {nw} windows", len(groups), "group") as st:
        for names, can_forward, costly in groups:
            part_data = local_data
            if costly:
                part_data = local_data[local_data["unique_id"].isin(sampled)]
            if names and not part_data.empty:
                frames.append(local_cv(names, can_forward, part_data, nw, cfg, spark))
            st.advance()
    if not frames:
        return result
    cv = frames[0]  # the groups over every series come first
    for extra in frames[1:]:
        cv = cv.join(extra.drop(columns="y"), how="left")
    cv = fill_nan_models(cv.reset_index(), result.fallbacks, skip=COSTLY_MODELS)
    costly_cols = [c for c in cv.columns if c in COSTLY_MODELS]
    on_sample = cv["unique_id"].isin(sampled).to_numpy()
    cv.loc[~on_sample, costly_cols] = np.nan  # not fitted there
    if costly_cols and on_sample.any():  # fitted but failed: the other models' mean
        part = fill_nan_models(cv[on_sample].copy(), result.fallbacks, only=tuple(costly_cols))
        cv.loc[on_sample, costly_cols] = part[costly_cols].to_numpy()
    result.timings["local_cv"] = round(time.perf_counter() - t, 2)
    if cfg.use_lightgbm:
        t = time.perf_counter()
        lgb_cv = lgb_backtest(
            data, cutoffs, cfg, exog_columns(data), statics, calendar=calendar, planned=planned
        )
        if lgb_cv is not None:
            cv = cv.merge(lgb_cv, on=CV_KEYS, how="left")
            cv = fill_nan_models(cv, result.fallbacks, only=(LGB,), skip=COSTLY_MODELS)
            result.timings["lightgbm_cv"] = round(time.perf_counter() - t, 2)
    cv = cv.merge(classes, on=["unique_id", "cutoff"], how="left")
    if costly_cols:
        t = time.perf_counter()
        with stage("backtest: costly models beyond their sample"):
            cv = screen_costly(cv, sample, local_data, result, cfg, series_class, spark)
        result.timings["costly_screening"] = round(time.perf_counter() - t, 2)
    result.cv, result.n_series = cv, len(long_ids)
    return result


def lgb_backtest(
    data: pd.DataFrame,
    cutoffs: list[pd.Timestamp],
    cfg: DemandConfig,
    exog: list[str],
    statics: list[str],
    *,
    calendar: Calendar | None = None,
    planned: bool = False,
) -> pd.DataFrame | None:
    """LightGBM's forecasts of every window (``unique_id, ds, cutoff, LightGBM``): trained
    once on the periods up to the first origin (within its row budget), then run through
    the serving path from each origin, with the window's calendar and, when ``planned``,
    its own prices and promotions as the plan. None when too few rows to train."""
    train = data[data["ds"] <= cutoffs[0]]
    if not trainable(train, cfg):
        return None
    offset = pd.tseries.frequencies.to_offset(cfg.pandas_freq)
    frames = []
    with stage("backtest: LightGBM fit, then each window", 1 + len(cutoffs)) as st:
        booster = booster_of(fit_lgb(train, cfg, exog, statics, calendar))
        st.advance()
        for c in cutoffs:
            start = c - offset * history_needed(cfg)
            hist = data[(data["ds"] > start) & (data["ds"] <= c)]
            plan = None
            if planned and exog:
                ahead = (data["ds"] > c) & (data["ds"] <= c + offset * cfg.horizon)
                plan = data.loc[ahead, ["unique_id", "ds", *exog]]
            pred = predict_lgb(
                hist, cfg.horizon, cfg, exog, statics, booster=booster, calendar=calendar, plan=plan
            )
            frames.append(pred.assign(cutoff=c))
            st.advance()
    return pd.concat(frames, ignore_index=True)


def local_cv(
    names: tuple[str, ...],
    can_forward: bool,
    data: pd.DataFrame,
    nw: int,
    cfg: DemandConfig,
    spark: Any = None,
) -> pd.DataFrame:
    """statsforecast's backtest of the local ``names``, indexed by series, period, cutoff."""
    sf = make_sf(
        cfg,
        names,
        with_tsb_grid=True,
        fallback=not can_forward,
        n_jobs=local_jobs(cfg, names, data["unique_id"].nunique()),
    )
    part = run_local(
        sf,
        "cross_validation",
        data[["unique_id", "ds", "y"]],
        spark,
        h=cfg.horizon,
        n_windows=nw,
        step_size=cfg.step,
        refit=not can_forward,
    )
    return part.set_index(CV_KEYS)


def costly_sample(
    data: pd.DataFrame, cfg: DemandConfig, classes: pd.DataFrame, result: Backtest
) -> dict[str, np.ndarray]:
    """Per costly class, the series (of ``data``) the costly models are backtested on
    first: all of them, or a seeded sample of ``costly_sample``.

    A class whose series beyond the sample exceed ``costly_max_series`` gets none: the
    costly models could never be kept there whatever the sample says, so they are not
    fitted on it either (at M5's size the sample alone costs about 100 s). That is said in
    a `FallbackWarning` and in ``result.screening``."""
    if not set(cfg.local_models) & set(COSTLY_MODELS):
        return {}  # no costly model among the candidates: nothing to screen or to say
    rng = np.random.default_rng(cfg.seed)
    cls_of = classes.set_index("unique_id")["demand_class"]
    present = cls_of.reindex(np.unique(data["unique_id"].to_numpy()))
    budget = cfg.costly_max_series
    out = {}
    for cls in cfg.costly_classes:
        ids = present.index[present.to_numpy() == cls].to_numpy()
        n_class = len(ids)
        if cfg.costly_sample and n_class > cfg.costly_sample:
            ids = np.sort(rng.choice(ids, cfg.costly_sample, replace=False))
        rest = n_class - len(ids)
        if budget is not None and rest > budget:
            result.screening[cls] = {
                "sample": 0,
                "series": n_class,
                "costly_kept": False,
                "over_budget": rest,
            }
            costly = ", ".join(m for m in cfg.local_models if m in COSTLY_MODELS)
            warnings.warn(
                f"{costly} not tried on the {cls} class: fitting it on the {rest:,} series "
                f"beyond its {len(ids):,}-series sample exceeds costly_max_series={budget:,}"
                " (raise costly_max_series, or set it to None, to try it)",
                FallbackWarning,
                stacklevel=4,
            )
            ids = ids[:0]
        out[cls] = ids
    return out


def screen_costly(
    cv: pd.DataFrame,
    sample: dict[str, np.ndarray],
    data: pd.DataFrame,
    result: Backtest,
    cfg: DemandConfig,
    classes: pd.DataFrame,
    spark: Any = None,
) -> pd.DataFrame:
    """Per costly class (``classes``: each series' class at the latest origin): if a
    candidate with a costly model is the best on the sample (rows scored in their class at
    their origin), backtest the costly models on the rest of the class; if not, they are
    dropped there (no backtest values, never selected). Decisions in ``result.screening``."""
    cls_of = classes.set_index("unique_id")["demand_class"]
    series_cls = cv["unique_id"].map(cls_of).to_numpy()
    cv = with_ensembles(cv, cfg)
    candidates = candidate_columns(cv)
    costly = [c for c in candidates if set(members(c)) & set(COSTLY_MODELS)]
    costly_names = tuple(m for m in cfg.local_models if m in COSTLY_MODELS)
    for cls, ids in sample.items():
        in_class = series_cls == cls
        everyone = np.unique(cv.loc[in_class, "unique_id"].to_numpy())
        if len(ids) == 0:  # not tried (over its budget: `costly_sample`)
            cv.loc[in_class, costly] = np.nan
            continue
        rows = cv["unique_id"].isin(ids)
        scores = per_series_scores(cv[rows], candidates, result.scales, cfg.selection_metric)
        means = scores[candidates].mean()
        best = str(means.idxmin())
        wins = best in costly
        result.screening[cls] = {
            "sample": len(ids),
            "series": len(everyone),
            "best_on_sample": best,
            "best_costly": str(means[costly].idxmin()),
            "costly_kept": wins,
        }
        rest = np.setdiff1d(everyone, ids)  # within costly_max_series (`costly_sample`)
        if not wins:
            cv.loc[in_class, costly] = np.nan
            continue
        if len(rest) == 0:
            continue
        frames = [
            local_cv(names, fwd, data[data["unique_id"].isin(rest)], result.n_windows, cfg, spark)
            for names, fwd, is_costly in cv_groups(cfg)
            if is_costly and names
        ]
        extra = pd.concat([f.drop(columns="y") for f in frames], axis=1)
        index = pd.MultiIndex.from_frame(cv[CV_KEYS])
        cheap = [c for c in candidates if "+" not in c and c not in COSTLY_MODELS]
        fallback = cv[cheap].mean(axis=1).to_numpy()  # where a costly fit failed
        new_rows = in_class & cv["unique_id"].isin(rest).to_numpy()
        for col in [c for c in extra.columns if c in costly_names]:
            values = extra[col].reindex(index).to_numpy()
            failed = new_rows & np.isnan(values)
            if failed.any():
                n = int(np.unique(cv["unique_id"].to_numpy()[failed]).size)
                result.fallbacks[col] = result.fallbacks.get(col, 0) + n
            values = np.where(np.isnan(values), fallback, values)
            cv[col] = np.where(new_rows, values, cv[col].to_numpy())
    return with_ensembles(cv, cfg)
