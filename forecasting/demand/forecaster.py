"""`DemandForecaster`: per-class selection among local statsforecast models, a global LightGBM
(mlforecast) and their ensembles, chosen by rolling-origin cross-validation, with quantiles.

The estimator follows scikit-learn's contract: ``__init__`` stores the configuration,
``fit`` returns ``self``, learned state ends in ``_``. The work is done in `panel`,
`backtest`, `selection`, `intervals`, `boosting` (the recursive LightGBM) and `horizon`
(the direct horizon LightGBM).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forecasting.data.contracts import SALES, validate
from forecasting.data.stockouts import stockout_totals, uncensor
from forecasting.demand import boosting, horizon, persistence
from forecasting.demand.backtest import backtest
from forecasting.demand.candidates import LGB, local_forecasts
from forecasting.demand.classification import NO_DEMAND, panel_classes
from forecasting.demand.config import DemandConfig
from forecasting.demand.covariates import (
    Calendar,
    check_calendar_covers,
    read_calendar,
    read_plan,
    replacement_calendar,
)
from forecasting.demand.intervals import (
    apply_offsets,
    empty_offsets,
    held_out_quantiles,
    interval_scales,
    quantile_columns,
    quantile_offsets,
    widen,
)
from forecasting.demand.metrics import per_series_scores
from forecasting.demand.panel import KEYS, exog_columns, future_frame, prepare_panel
from forecasting.demand.panel import series_level as _series_level
from forecasting.demand.selection import (
    DEFAULT_SELECTION,
    candidate_columns,
    combine,
    members,
    needed_models,
    select,
    uses_lgb,
    warn_fallbacks,
    with_ensembles,
)
from forecasting.errors import ForecastingError, ShortHistoryWarning
from forecasting.periods import horizon_days
from forecasting.progress import stage

DEFAULT_CONFIG = DemandConfig()


class DemandForecaster(BaseEstimator):
    """Demand forecasts per SKU x channel.

    ``fit(sales)`` classifies the series, cross-validates every candidate on rolling origins
    of the training data, picks per demand class the candidate (single model or ensemble)
    with the lowest mean RMSSE (or MASE), learns quantile offsets from the chosen forecast's
    backtest residuals and fits the global LightGBM on all data. ``predict(sales)`` refits
    the local models the selection needs on ``sales`` and returns ``sku_id, channel, ds,
    forecast`` plus ``forecast-lo-{level}``, ``forecast-median``, ``forecast-hi-{level}``;
    ``forecast()`` does the same after the end of the training data.

    ``calendar`` (DESIGN.md's calendar table) gives LightGBM the features known in advance;
    the forecaster keeps it, and a ``calendar`` given to ``predict`` replaces it for that
    call. It must cover every forecast day. ``future`` (the future table) is the plan of
    prices and promotions of the days forecast; given to ``fit``, the backtest also plans
    each window with its own prices and promotions. Without it, the last price holds and
    there is no promotion.

    Out-of-stock periods (an ``on_hand`` of 0 in the sales) are demand not seen: every
    model learns and forecasts from their estimate (`forecasting.data.stockouts.uncensor`);
    ``stockouts_`` says how many there were and the units estimated lost.

    ``spark``: a SparkSession given to ``fit`` / ``predict`` runs the local models on Spark.
    """

    # fitted state (set by `fit` or `load`, absent before): the recursive LightGBM (a fitted
    # MLForecast, or a booster loaded from its file) and the direct horizon model
    lgb_: Any
    lgb_booster_: Any
    lgb_horizon_: Any
    horizon_h_: int | None

    def __init__(self, config: DemandConfig = DEFAULT_CONFIG) -> None:
        self.config = config

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``{"config": ...}``; with ``deep`` also every config field as ``config__name``
        (scikit-learn's nested-parameter names), ready for ``mlflow.log_params``."""
        params: dict[str, Any] = {"config": self.config}
        if deep:
            params.update({f"config__{k}": v for k, v in vars(self.config).items()})
        return params

    # --- public API: validate and convert, then compute ---------------------------------------
    def fit(
        self,
        sales: pd.DataFrame,
        *,
        calendar: pd.DataFrame | None = None,
        future: pd.DataFrame | None = None,
        spark: Any = None,
    ) -> DemandForecaster:
        """Backtest the candidates, select per class, fit LightGBM. Returns ``self``."""
        panel, keys, end = self._fit_inputs(sales, calendar, future)
        with stage(f"demand: fit on {len(keys):,} series") as st:
            self._fit(panel, keys, end, spark)
        self.fit_seconds_ = st.seconds
        return self

    def _fit_inputs(
        self, sales: pd.DataFrame, calendar: pd.DataFrame | None, future: pd.DataFrame | None
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
        """Validate the inputs of `fit` and return the panel (keys, end). The validated copy
        of the sales dies on return: at M5's size it is ~2 GiB the fit does not need."""
        sales, stockouts = uncensor(validate(sales, SALES, "<sales>"))
        self.stockouts_ = stockout_totals(stockouts)
        panel, keys, end = prepare_panel(sales, self.config)
        if panel.empty:
            raise ForecastingError("no series has a sale: nothing to learn from")
        self.data_start_, self.data_end_ = sales["ds"].min(), sales["ds"].max()
        self.calendar_ = None if calendar is None else read_calendar(calendar, self.config)
        check_calendar_covers(self.calendar_, end, self.config, self.config.horizon, keys)
        self.planned_ = future is not None
        self.plan_ = None if future is None else read_plan(future, keys, panel, sales)
        return panel, keys, end

    def forecast(
        self, horizon: int | None = None, *, all_models: bool = False, spark: Any = None
    ) -> pd.DataFrame:
        """`predict` for the ``horizon`` periods after the end of the training data."""
        self._check_fitted()
        if not hasattr(self, "panel_"):
            raise ForecastingError("forecast() needs a forecaster fitted in this session")
        h = horizon or self.config.horizon
        check_calendar_covers(self.calendar_, self.end_, self.config, h, self.keys_)
        return self._predict(
            self.panel_, self.keys_, self.end_, h, all_models, spark, self.calendar_, self.plan_
        )

    def predict(
        self,
        sales: pd.DataFrame,
        horizon: int | None = None,
        *,
        calendar: pd.DataFrame | None = None,
        future: pd.DataFrame | None = None,
        all_models: bool = False,
        spark: Any = None,
    ) -> pd.DataFrame:
        """Forecast ``horizon`` periods after the end of ``sales``: ``calendar`` replaces the
        forecaster's own for this call, ``future`` plans prices and promotions,
        ``all_models=True`` adds one column per candidate model (for comparisons)."""
        panel, keys, end, h, cal, plan = self._prepared(sales, horizon, calendar, future)
        return self._predict(panel, keys, end, h, all_models, spark, cal, plan)

    def fit_horizon_model(self, sales: pd.DataFrame) -> DemandForecaster:
        """Fit the direct horizon LightGBM (`forecasting.demand.horizon`) that
        `predict_horizon` uses, on the training ``sales``: one prediction of each series'
        mean over ``config.horizon`` periods instead of ``horizon`` recursive ones, for
        callers that only need the horizon's level, like the stocking decision. Does nothing
        when the selection does not use LightGBM. Returns ``self``."""
        self._check_fitted()
        self.lgb_horizon_, self.horizon_h_ = None, None
        if not uses_lgb(self.selection_) or not self.config.use_lightgbm:
            return self
        panel = prepare_panel(uncensor(validate(sales, SALES, "<sales>"))[0], self.config)[0]
        if not boosting.trainable(panel, self.config, windows=1):
            return self
        self.lgb_horizon_ = horizon.fit_horizon_booster(
            panel, self.config, self.exog_, self.statics_, self.calendar_
        )
        self.horizon_h_ = self.config.horizon
        return self

    def predict_horizon(
        self,
        sales: pd.DataFrame,
        horizon: int | None = None,
        *,
        calendar: pd.DataFrame | None = None,
        future: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Per series, the mean forecast per period over the next ``horizon`` periods.

        Columns: ``sku_id, channel, demand_class, forecast`` and the quantile columns (per
        period), ``periods`` and ``days`` (the horizon's length in periods and days). Uses
        the direct horizon LightGBM when `fit_horizon_model` fitted one for this horizon;
        otherwise the mean of `predict`'s recursive forecasts. ``calendar`` and ``future``
        as in `predict`.
        """
        panel, keys, end, h, cal, plan = self._prepared(sales, horizon, calendar, future)
        return self._predict_horizon(panel, keys, end, h, cal, plan)

    def without(self, models: tuple[str, ...]) -> DemandForecaster:
        """A new forecaster whose per-class selection is redone, on the same backtest, among
        the candidates that use none of ``models`` (e.g. AutoETS, too slow to refit at every
        scoring call); quantile offsets are re-learned for the new selection and LightGBM is
        fitted if the new selection needs it. ``self`` is not changed; the two share only
        the training panel, which neither changes."""
        self._check_fitted()
        if not hasattr(self, "cv_"):
            raise ForecastingError("without() needs a forecaster fitted in this session")
        allowed = [c for c in self.candidates_ if not set(members(c)) & set(models)]
        if not allowed:
            raise ForecastingError(f"no candidate is left without {list(models)}")
        new = self.copy()
        new.candidates_ = allowed
        cfg = self.config
        if self.cv_.empty:
            new.selection_ = {
                cls: tuple(m for m in sel if m not in models) or ("CrostonSBA",)
                for cls, sel in self.selection_.items()
            }
        else:
            cv = self.cv_[["unique_id", "ds", "cutoff", "y", "demand_class", *allowed]].copy()
            new._select_and_learn_quantiles(cv, self.scales_)
        if new.lgb_ is None and uses_lgb(new.selection_):
            if cfg.use_lightgbm and boosting.trainable(self.panel_, cfg):
                new.lgb_ = boosting.fit_lgb(
                    self.panel_, cfg, self.exog_, self.statics_, self.calendar_
                )
            else:
                raise ForecastingError("the new selection needs LightGBM, which cannot train")
        return new

    def with_calendar(self, calendar: pd.DataFrame, source: str = "<calendar>") -> DemandForecaster:
        """The fitted forecaster with ``calendar`` in place of its own (same columns); the
        rest is shared with ``self`` (read only)."""
        self._check_fitted()
        new = copy.copy(self)
        new.calendar_ = replacement_calendar(
            getattr(self, "calendar_", None), calendar, self.config, source
        )
        return new

    def with_jobs(self, n_jobs: int) -> DemandForecaster:
        """The fitted forecaster predicting on ``n_jobs`` cores (statsforecast's workers,
        LightGBM's threads), a Spark task's share say; the rest is shared with ``self``."""
        self._check_fitted()
        new = copy.copy(self)
        new.config = self.config.with_(n_jobs=max(1, int(n_jobs)))
        return new

    def copy(self) -> DemandForecaster:
        """A deep copy that shares the training panel and keys (read-only, and the largest
        part of the state) with ``self``."""
        shared = [getattr(self, a) for a in ("panel_", "keys_") if hasattr(self, a)]
        return copy.deepcopy(self, memo={id(x): x for x in shared})

    # --- persistence: lean artifacts (`forecasting.demand.persistence`) ------------------------
    def save(self, folder: str | Path) -> Path:
        """Config (JSON), selection and quantile tables (Parquet), LightGBM as its native file."""
        self._check_fitted()
        return persistence.save(self, folder)

    @classmethod
    def load(cls, folder: str | Path) -> DemandForecaster:
        """A forecaster saved by `save`, ready to predict."""
        return persistence.load(cls(), folder)

    # --- computation ---------------------------------------------------------------------------
    def _fit(self, panel: pd.DataFrame, keys: pd.DataFrame, end: pd.Timestamp, spark: Any) -> None:
        cfg = self.config
        self.panel_, self.keys_, self.end_ = panel, keys, end
        self.exog_ = exog_columns(panel)
        n_skus = keys["sku_id"].nunique()
        self.statics_ = ["channel", "sku"] if n_skus <= cfg.max_sku_categories else ["channel"]
        self.classes_ = panel_classes(panel, keys)
        bt = backtest(
            panel, cfg, keys, self.statics_, spark, calendar=self.calendar_, planned=self.planned_
        )
        self.n_windows_, self.screening_ = bt.n_windows, bt.screening
        self.fallbacks_ = dict(bt.fallbacks)
        warn_fallbacks(self.fallbacks_, "backtest")
        timings = dict(bt.timings)
        cv = with_ensembles(bt.cv, cfg)
        self.candidates_ = candidate_columns(cv)
        if cv.empty:
            warnings.warn(
                "no series is long enough to cross-validate "
                f"({bt.n_series} of {panel['unique_id'].nunique()}); "
                "using default models per class",
                ShortHistoryWarning,
                stacklevel=3,
            )
            self.selection_ = dict(DEFAULT_SELECTION)
            self.cv_ = cv
            self.series_offsets_, self.class_offsets_ = empty_offsets(cfg)
            self.interval_scales_ = interval_scales(cv.iloc[:0], cfg)
        else:
            self._select_and_learn_quantiles(cv, bt.scales)
        self.scales_ = bt.scales
        self.lgb_, self.lgb_booster_ = None, None
        self.lgb_horizon_, self.horizon_h_ = None, None
        if cfg.use_lightgbm and uses_lgb(self.selection_) and boosting.trainable(panel, cfg):
            with stage("LightGBM: fit on all the data") as st:
                self.lgb_ = boosting.fit_lgb(panel, cfg, self.exog_, self.statics_, self.calendar_)
            timings["lightgbm_fit"] = st.seconds
        self.timings_ = timings
        self.n_series_ = len(keys)

    def _select_and_learn_quantiles(self, cv: pd.DataFrame, scales: pd.DataFrame) -> None:
        """Selection per class on the backtest ``cv`` (with ``demand_class``), the chosen
        forecast's quantile offsets, and the backtest with held-out quantiles as ``cv_``."""
        cfg = self.config
        scores = per_series_scores(cv, self.candidates_, scales, cfg.selection_metric)
        self.selection_ = select(scores, self.candidates_)
        cv["forecast"] = combine(cv, self.selection_)
        own, pooled = quantile_offsets(cv, scales, self.keys_, cfg)
        # cv_: each window's band learned on the other windows (not yet widened)
        self.cv_ = held_out_quantiles(cv, scales, self.keys_, cfg)
        self.interval_scales_ = interval_scales(self.cv_, cfg)
        classes = self.keys_.merge(self.classes_[["unique_id", "demand_class"]], on="unique_id")
        own_cls = own[KEYS].merge(classes, on=KEYS, how="left")["demand_class"]
        self.series_offsets_ = widen(own, own_cls, self.interval_scales_, cfg)
        self.class_offsets_ = widen(pooled, pooled["demand_class"], self.interval_scales_, cfg)

    def _booster(self) -> Any:
        """The recursive LightGBM's booster: fitted here, or loaded from its file."""
        if getattr(self, "lgb_", None) is not None:
            return boosting.booster_of(self.lgb_)
        return getattr(self, "lgb_booster_", None)

    def _predict(
        self,
        panel: pd.DataFrame,
        keys: pd.DataFrame,
        end: pd.Timestamp,
        h: int,
        all_models: bool = False,
        spark: Any = None,
        calendar: Calendar | None = None,
        plan: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        cfg = self.config
        cls_of = panel_classes(panel, keys).set_index("unique_id")["demand_class"]
        needed = needed_models(self.selection_)
        if all_models:
            has_lgb = self._booster() is not None
            needed = sorted(
                {*needed, *(m for c in self.candidates_ for m in members(c))}
                - (set() if has_lgb else {LGB})
            )
        fc = future_frame(keys["unique_id"].to_numpy(), end, cfg.freq, h)
        local_names = [m for m in needed if m != LGB]
        if local_names and not panel.empty:
            local = local_forecasts(
                panel,
                cls_of,
                local_names,
                self.selection_,
                cfg,
                h,
                all_models=all_models,
                spark=spark,
            )
            if local is not None:
                fc = fc.merge(local, on=["unique_id", "ds"], how="left")
        if LGB in needed and not panel.empty:
            in_sample = getattr(self, "panel_", None) is panel and self.lgb_ is not None
            pred = boosting.predict_lgb(
                panel,
                h,
                cfg,
                self.exog_,
                self.statics_,
                fitted=self.lgb_ if in_sample else None,
                booster=self._booster(),
                calendar=calendar,
                plan=plan,
            )
            fc = fc.merge(pred, on=["unique_id", "ds"], how="left")
        out = self._finish(fc, cls_of, needed, keys, panel)
        cols = [*KEYS, "ds", "forecast", *quantile_columns(cfg), "demand_class"]
        if all_models:
            for cand in self.candidates_:
                if set(members(cand)) <= set(needed):
                    out[cand] = out[list(members(cand))].mean(axis=1)
                    cols.append(cand)
        return out[cols].sort_values([*KEYS, "ds"]).reset_index(drop=True)

    def _predict_horizon(
        self,
        panel: pd.DataFrame,
        keys: pd.DataFrame,
        end: pd.Timestamp,
        h: int,
        calendar: Calendar | None = None,
        plan: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        cfg = self.config
        qcols = quantile_columns(cfg)
        cols = [*KEYS, "demand_class", "forecast", *qcols, "periods", "days"]
        days = horizon_days(end, cfg.freq, h)
        if getattr(self, "lgb_horizon_", None) is None or self.horizon_h_ != h:
            per_period = self._predict(panel, keys, end, h, calendar=calendar, plan=plan)
            out = per_period.groupby(KEYS, sort=True, observed=True, as_index=False).agg(
                {"forecast": "mean", **dict.fromkeys(qcols, "mean"), "demand_class": "first"}
            )
            return out.assign(periods=h, days=days)[cols]
        cls_of = panel_classes(panel, keys).set_index("unique_id")["demand_class"]
        needed = needed_models(self.selection_)
        fc = pd.DataFrame({"unique_id": keys["unique_id"].to_numpy()})
        local_names = [m for m in needed if m != LGB]
        if local_names and not panel.empty:
            local = local_forecasts(panel, cls_of, local_names, self.selection_, cfg, h)
            if local is not None:
                ran = [m for m in local_names if m in local.columns]
                means = local.groupby("unique_id", sort=False)[ran].mean()
                fc = fc.merge(means, left_on="unique_id", right_index=True, how="left")
        if LGB in needed and not panel.empty:
            pred = horizon.predict_horizon_booster(
                panel, self.lgb_horizon_, cfg, self.exog_, self.statics_, calendar, plan
            )
            fc = fc.merge(pred, on="unique_id", how="left")
        out = self._finish(fc, cls_of, needed, keys, panel).assign(periods=h, days=days)
        return out[cols].sort_values(KEYS).reset_index(drop=True)

    def _finish(
        self,
        fc: pd.DataFrame,
        cls_of: pd.Series,
        needed: list[str],
        keys: pd.DataFrame,
        panel: pd.DataFrame,
    ) -> pd.DataFrame:
        """Per row of model forecasts: the class, the selected combination, the keys and the
        quantiles; series without a sale forecast as zero."""
        fc["demand_class"] = fc["unique_id"].map(cls_of).fillna(NO_DEMAND).to_numpy()
        for m in needed:
            if m not in fc.columns:
                fc[m] = np.nan
        # a selected model without a forecast for a series (too short for it): the mean of
        # the class's other selected models, else of every model that ran, else the series'
        # mean demand; counted and said
        classes = fc["demand_class"].to_numpy()
        ids = fc["unique_id"].to_numpy()
        counts: dict[str, int] = {}
        for m in needed:
            using = [c for c, sel in self.selection_.items() if m in sel]
            missing = np.isin(classes, using) & fc[m].isna().to_numpy() & (classes != NO_DEMAND)
            if missing.any():
                counts[m] = int(np.unique(ids[missing]).size)
        level = _series_level(panel)
        point = combine(fc, self.selection_)  # the mean of the selected models that ran
        lost = np.isnan(point)
        if lost.any():  # none ran: every model that ran, else the series' mean demand
            others = fc.loc[lost, needed].mean(axis=1).to_numpy()
            mean = fc.loc[lost, "unique_id"].map(level).to_numpy(dtype="float64")
            point[lost] = np.where(np.isnan(others), mean, others)
        fc["forecast"] = np.clip(np.nan_to_num(point, nan=0.0), 0.0, None)
        warn_fallbacks(counts, "forecast")
        out = fc.merge(keys, on="unique_id", how="left")
        out = apply_offsets(out, level, self.series_offsets_, self.class_offsets_, self.config)
        out.loc[out["demand_class"] == NO_DEMAND, ["forecast", *quantile_columns(self.config)]] = (
            0.0
        )
        return out

    def _prepared(
        self,
        sales: pd.DataFrame,
        horizon: int | None,
        calendar: pd.DataFrame | None,
        future: pd.DataFrame | None,
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, int, Calendar | None, pd.DataFrame | None]:
        """What `predict` and `predict_horizon` forecast from: (panel, keys, end, h,
        calendar, plan). The calendar is the one given (replacing the model's) or the
        model's own, checked to cover the ``h`` periods after ``end``."""
        self._check_fitted()
        sales = uncensor(validate(sales, SALES, "<sales>"))[0]
        panel, keys, end = prepare_panel(sales, self.config)
        h = horizon or self.config.horizon
        cal = getattr(self, "calendar_", None)
        if calendar is not None:
            cal = replacement_calendar(cal, calendar, self.config)
        check_calendar_covers(cal, end, self.config, h, keys)
        plan = None if future is None else read_plan(future, keys, panel, sales)
        return panel, keys, end, h, cal, plan

    def _check_fitted(self) -> None:
        if not hasattr(self, "selection_"):
            raise ForecastingError("call fit() (or DemandForecaster.load) before predict()")
