"""The global LightGBM (through mlforecast): features, training rows, recursive forecasts.

One model for every series: lags, rolling means and an EWM of the first lag, date features,
the price relative to the series' mean and the promotion flag when the sales have them, the
calendar's features when one is given (`covariates`), the channel and (up to
``max_sku_categories`` SKUs) the SKU as categories; Tweedie objective.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forecasting.configs import lgb_threads
from forecasting.demand.candidates import LGB, quiet
from forecasting.demand.config import DATE_FEATURES, DemandConfig
from forecasting.demand.covariates import Calendar, apply_plan, with_calendar
from forecasting.demand.panel import IN_STOCK, latest
from forecasting.errors import ForecastingError

#: The value of an exogenous feature when the data to forecast does not have it.
NEUTRAL_EXOG = {"price_ratio": 1.0, "promo": 0.0}


class BoosterModel:
    """A saved LightGBM booster behind the ``predict(X)`` that mlforecast calls, on
    ``threads`` threads (a loaded booster would take every core of the machine)."""

    def __init__(self, booster: Any, threads: int = 1) -> None:
        self.booster = booster
        self.threads = threads

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(X, num_threads=lgb_threads(self.threads)))


def make_mlf(cfg: DemandConfig) -> Any:
    """An unfitted ``MLForecast`` with the LightGBM regressor and its features."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import ExponentiallyWeightedMean, RollingMean

    first_lag = min(cfg.lag_list)
    transforms: list[Any] = [RollingMean(window_size=w) for w in cfg.window_list]
    transforms.append(ExponentiallyWeightedMean(alpha=0.1))
    model = lgb.LGBMRegressor(
        objective="tweedie",
        tweedie_variance_power=cfg.tweedie_variance_power,
        n_estimators=cfg.lgb_n_estimators,
        learning_rate=cfg.lgb_learning_rate,
        num_leaves=cfg.lgb_num_leaves,
        min_child_samples=cfg.lgb_min_child_samples,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=cfg.seed,
        n_jobs=lgb_threads(cfg.n_jobs),
        # row-wise histograms: the same trees (forecasts within 1e-14). LightGBM's own pick,
        # timed on its first iteration, varies by run; at M5's shape on 2 threads col-wise
        # was up to 25% slower (`python -m benchmarks.scale --part histograms`)
        force_row_wise=True,
        verbose=-1,
    )
    return MLForecast(
        models={LGB: model},
        freq=cfg.pandas_freq,
        lags=list(cfg.lag_list),
        lag_transforms={first_lag: transforms},
        date_features=list(DATE_FEATURES[cfg.freq]),
        num_threads=cfg.n_jobs,
    )


def feature_columns(mlf: Any) -> list[str]:
    """The feature columns, in the order the fitted or preprocessed ``mlf`` feeds its models
    (mlforecast's own record of it)."""
    return list(mlf.ts.features_order_)


def lgb_frame(
    panel: pd.DataFrame, exog: list[str], statics: list[str], calendar: Calendar | None = None
) -> pd.DataFrame:
    """The columns LightGBM sees: exactly the static and exogenous features it was trained
    with (the SKU as a category only when there are few enough SKUs), then the calendar's."""
    frame = panel[["unique_id", "ds", "y", *statics, *[c for c in exog if c in panel.columns]]]
    missing = {c: np.float32(NEUTRAL_EXOG[c]) for c in exog if c not in panel.columns}
    frame = frame.assign(**missing) if missing else frame
    return with_calendar(frame, calendar)


def future_exog(
    frame: pd.DataFrame,
    future: pd.DataFrame,
    exog: list[str],
    calendar: Calendar | None,
    plan: pd.DataFrame | None,
) -> pd.DataFrame:
    """The dynamic features of the ``future`` periods (``unique_id, ds``) of the series of
    ``frame`` (`lgb_frame` rows): the plan's price and promotion where it has them, else
    the held ones (`held_exog`), and the calendar's features."""
    X = future.merge(held_exog(frame, exog), left_on="unique_id", right_index=True, how="left")
    X = apply_plan(X, plan, exog)
    if calendar is None:
        return X
    if calendar.per_channel:
        channel = frame.groupby("unique_id", sort=False, observed=True)["channel"].last()
        X["channel"] = channel.reindex(X["unique_id"].to_numpy()).array
    return with_calendar(X, calendar).drop(columns="channel", errors="ignore")


def held_exog(frame: pd.DataFrame, exog: list[str]) -> pd.DataFrame:
    """The exogenous features of the periods after ``frame`` (one row per ``unique_id``), as
    serving knows them without a plan: the last price held, no promotion. The one rule for
    forecasts, backtest windows and the direct model's placeholder periods."""
    held = frame.groupby("unique_id", sort=False)[exog].last()
    if "promo" in held.columns:
        held["promo"] = np.float32(0.0)
    return held


def warmup(cfg: DemandConfig) -> int:
    """Periods at the start of a series whose LightGBM features are not known yet."""
    return max(max(cfg.lag_list), min(cfg.lag_list) + max(cfg.window_list))


def history_needed(cfg: DemandConfig) -> int:
    """Periods of history that give every feature of the next ``max(lags)`` periods."""
    return max(cfg.lag_list) + max(cfg.window_list) + max(cfg.lag_list) + 1


def trainable(panel: pd.DataFrame, cfg: DemandConfig, windows: int = 0) -> bool:
    """Enough rows with every lag known (after holding out the backtest windows) to train."""
    lengths = panel.groupby("unique_id", sort=False).size()
    usable = (lengths - warmup(cfg) - windows * cfg.step).clip(lower=0).sum()
    return bool(usable >= 100)


def train_periods(panel: pd.DataFrame, cfg: DemandConfig) -> int | None:
    """Latest periods per series LightGBM trains on: all of them (None) while the rows
    stay within ``lgb_max_rows``, else as many as the budget allows (never fewer than
    two horizons). A global model learns from every series, so with many series a
    shorter window per series loses little and keeps training time flat."""
    if not cfg.lgb_max_rows or panel.empty:
        return None
    lengths = np.bincount(panel["unique_id"].to_numpy())
    n_series = int((lengths > 0).sum())
    budget = max(cfg.lgb_max_rows // n_series, 2 * cfg.horizon)
    return budget if budget < lengths.max() else None


def training_rows(panel: pd.DataFrame, cfg: DemandConfig, extra: int = 0) -> pd.DataFrame:
    """The panel's rows LightGBM learns from (its row budget, the warm-up and ``extra``
    periods more)."""
    periods = train_periods(panel, cfg)
    return latest(panel, periods + warmup(cfg) + extra, cfg) if periods else panel


def fit_lgb(
    panel: pd.DataFrame,
    cfg: DemandConfig,
    exog: list[str],
    statics: list[str],
    calendar: Calendar | None = None,
) -> Any:
    """The global LightGBM (a fitted ``MLForecast``) on the latest periods of the panel
    within its row budget."""
    data = training_rows(panel, cfg)
    mlf = make_mlf(cfg)
    frame = lgb_frame(data, exog, statics, calendar)
    weight = None
    if cfg.stockout_targets == "mask" and IN_STOCK in data.columns:
        # out-of-stock periods: their estimated demand feeds the lags, not the loss
        frame, weight = frame.assign(**{IN_STOCK: data[IN_STOCK].to_numpy()}), IN_STOCK
    with quiet():
        mlf.fit(frame, static_features=statics, weight_col=weight)
    return mlf


def predict_lgb(
    panel: pd.DataFrame,
    h: int,
    cfg: DemandConfig,
    exog: list[str],
    statics: list[str],
    *,
    fitted: Any = None,
    booster: Any = None,
    calendar: Calendar | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """LightGBM's recursive forecasts of ``h`` periods after ``panel``: ``unique_id, ds,
    LightGBM``, with the future features of `future_exog` (the ``plan``'s, else held, and
    the ``calendar``'s). ``fitted``: the `fit_lgb` result,
    when ``panel`` is its training data; else the ``booster`` is run on the features of the
    panel's latest periods (the custom-training route of mlforecast's docs: ``preprocess``,
    then ``models_``)."""
    if fitted is not None:
        mlf = fitted
    else:
        if booster is None:
            raise ForecastingError("the selection uses LightGBM but no LightGBM model is fitted")
        mlf = make_mlf(cfg)
        panel = latest(panel, history_needed(cfg), cfg)  # every series ends at the last period
        with quiet():
            mlf.preprocess(lgb_frame(panel, exog, statics, calendar), static_features=statics)
        mlf.models_ = {LGB: BoosterModel(booster, cfg.n_jobs)}
    future = mlf.make_future_dataframe(h)
    X = future_exog(lgb_frame(panel, exog, statics), future, exog, calendar, plan)
    with quiet():
        pred = mlf.predict(h, X_df=X if len(X.columns) > 2 else None)
    pred[LGB] = pred[LGB].clip(lower=0)
    return pred[["unique_id", "ds", LGB]]


def booster_of(fitted: Any) -> Any:
    """The LightGBM booster inside a fitted ``MLForecast``."""
    return fitted.models_[LGB].booster_
