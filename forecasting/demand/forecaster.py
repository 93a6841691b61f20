"""`DemandForecaster`: per-class selection among local statsforecast models, a global LightGBM
(mlforecast) and their ensembles, chosen by rolling-origin cross-validation, with quantiles.

Inside, series are Nixtla's long panel (``unique_id`` an integer code, ``ds``, ``y``); at the
edges they are ``sku_id`` + ``channel``. Leading zeros before a series' first sale are dropped
(the product was not on sale yet); gaps are filled with zeros up to the last period of the
data; a series without any sale is forecast as zero.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.data.aggregate import period_start
from forecasting.data.contracts import SALES, validate
from forecasting.demand.classification import DEMAND_CLASSES, NO_DEMAND, syntetos_boylan
from forecasting.demand.config import COSTLY_MODELS, DATE_FEATURES, DemandConfig
from forecasting.errors import ForecastingError, ShortHistoryWarning

log = logging.getLogger(__name__)

KEYS = ["sku_id", "channel"]
LGB = "LightGBM"
#: Local models whose cross-validation can fit once and forward the state.
FORWARD_MODELS = ("AutoETS", "SeasonalNaive")
#: Fallback selection per class when there is too little history to cross-validate.
DEFAULT_SELECTION: dict[str, tuple[str, ...]] = {
    "smooth": ("AutoETS",),
    "erratic": ("AutoETS",),
    "intermittent": ("CrostonSBA",),
    "lumpy": ("CrostonSBA",),
}


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the libraries' expected warnings (short series, NaN rolling features)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


class _BoosterModel:
    """A saved LightGBM booster behind the ``predict(X)`` that mlforecast calls."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(X))


class DemandForecaster:
    """Demand forecasts per SKU x channel.

    ``fit(sales)`` classifies the series, cross-validates every candidate on rolling origins
    of the training data, picks per demand class the candidate (single model or ensemble)
    with the lowest mean RMSSE (or MASE), learns quantile offsets from the chosen forecast's
    backtest residuals and fits the global LightGBM on all data. ``predict()`` refits the
    local models the selection needs and returns ``sku_id, channel, ds, forecast`` plus
    ``forecast-lo-{level}``, ``forecast-median`` and ``forecast-hi-{level}``.
    """

    lgb_: Any  # the fitted MLForecast (None when the selection does not use LightGBM)
    lgb_booster_: Any  # a LightGBM booster loaded from its file
    # the direct horizon LightGBM (`fit_horizon_model`): each series' mean demand per period
    # over the next `horizon_h_` periods, one prediction per series; None when not fitted
    lgb_horizon_: Any = None
    horizon_h_: int | None = None

    def __init__(self, config: DemandConfig | None = None, engine: Any = None) -> None:
        self.config = config or DemandConfig()
        self.engine = engine  # None: pandas on this machine; a SparkSession: local models on Spark

    # --- sklearn-style parameters ----------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        from forecasting.tracking import flatten_params

        return flatten_params(self.config)

    # --- public API: validate and convert, then compute ---------------------------------------
    def fit(self, sales: pd.DataFrame) -> DemandForecaster:
        """Backtest the candidates, select per class, fit LightGBM. Returns ``self``."""
        sales = validate(sales, SALES, "<sales>") if not _is_validated(sales) else sales
        start = time.perf_counter()
        panel, keys, end = prepare_panel(sales, self.config)
        if panel.empty:
            raise ForecastingError("no series has a sale: nothing to learn from")
        self.end_ = end
        self._fit(panel, keys, sales)
        self.fit_seconds_ = round(time.perf_counter() - start, 2)
        return self

    def predict(
        self,
        sales: pd.DataFrame | None = None,
        horizon: int | None = None,
        *,
        all_models: bool = False,
    ) -> pd.DataFrame:
        """Forecast ``horizon`` periods after the end of ``sales`` (default: the training data).

        ``all_models=True`` adds one column per candidate model (for comparisons).
        """
        self._check_fitted()
        panel, keys, end = self._panel(sales)
        return self._predict(panel, keys, end, horizon or self.config.horizon, all_models)

    def fit_horizon_model(self, sales: pd.DataFrame | None = None) -> DemandForecaster:
        """Fit the direct horizon LightGBM that `predict_horizon` uses.

        From the same features as the recursive LightGBM, it predicts a series' mean demand
        per period over the next ``config.horizon`` periods after the last period those
        features see (the first lag, 7 days for daily data, before their own period): one
        prediction per series instead of ``horizon`` recursive ones (28 times fewer tree
        evaluations for daily data), for callers that only need the horizon's level, like
        the stocking decision. ``sales``: the training sales (default: the data
        of this session's ``fit``). Does nothing when the selection does not use LightGBM.
        Returns ``self``.
        """
        self._check_fitted()
        if not _uses_lgb(self.selection_) or not self.config.use_lightgbm:
            return self
        if sales is None and not hasattr(self, "panel_"):
            raise ForecastingError("fit_horizon_model() needs the training sales")
        panel = self._panel(sales)[0]
        if not _lgb_trainable(panel, self.config, windows=1):
            return self
        self.lgb_horizon_ = self._fit_lgb_horizon(panel)
        self.horizon_h_ = self.config.horizon
        return self

    def predict_horizon(
        self, sales: pd.DataFrame | None = None, horizon: int | None = None
    ) -> pd.DataFrame:
        """Per series, the mean forecast per period over the next ``horizon`` periods.

        Columns: ``sku_id, channel, demand_class, forecast`` and the quantile columns (per
        period), ``periods`` and ``days`` (the horizon's length in periods and days). Uses
        the direct horizon LightGBM when `fit_horizon_model` fitted one for this horizon;
        otherwise the mean of `predict`'s recursive forecasts.
        """
        self._check_fitted()
        panel, keys, end = self._panel(sales)
        return self._predict_horizon(panel, keys, end, horizon or self.config.horizon)

    def without(self, models: tuple[str, ...]) -> DemandForecaster:
        """A copy whose per-class selection is redone, on the same backtest, among the
        candidates that use none of ``models`` (e.g. AutoETS, too slow to refit at every
        scoring call); quantile offsets are re-learned for the new selection and LightGBM is
        fitted if the new selection needs it. ``self`` is not changed."""
        import copy

        self._check_fitted()
        if not hasattr(self, "cv_"):
            raise ForecastingError("without() needs a forecaster fitted in this session")
        allowed = [c for c in self.candidates_ if not set(_members(c)) & set(models)]
        if not allowed:
            raise ForecastingError(f"no candidate is left without {list(models)}")
        new = copy.copy(self)
        new.candidates_ = allowed
        cfg = self.config
        if self.cv_.empty:
            new.selection_ = {
                cls: tuple(m for m in sel if m not in models) or ("CrostonSBA",)
                for cls, sel in self.selection_.items()
            }
        else:
            cv = self.cv_[["unique_id", "ds", "cutoff", "y", "demand_class", *allowed]].copy()
            scores = _per_series_scores(cv, allowed, self.scales_, cfg.selection_metric)
            new.selection_ = _select(scores, allowed)
            cv["forecast"] = _combine(cv, new.selection_)
            new.series_offsets_, new.class_offsets_ = _quantile_offsets(
                cv, self.scales_, self.keys_, cfg, self.classes_
            )
            new.cv_ = new._held_out_quantiles(cv, self.scales_, self.keys_)
        if new.lgb_ is None and _uses_lgb(new.selection_):
            if cfg.use_lightgbm and _lgb_trainable(self.panel_, cfg):
                new.lgb_ = self._fit_lgb(self.panel_)
            else:
                raise ForecastingError("the new selection needs LightGBM, which cannot train")
        return new

    # --- persistence: lean artifacts -----------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Config (JSON), selection and quantile tables (Parquet), LightGBM as its native file."""
        self._check_fitted()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(self.config.to_json())
        selection = {
            "selection": {k: list(v) for k, v in self.selection_.items()},
            "candidates": list(self.candidates_),
            "exog": list(self.exog_),
            "statics": list(self.statics_),
        }
        (out / "selection.json").write_text(json.dumps(selection, indent=2))
        self.series_offsets_.to_parquet(out / "series_quantiles.parquet", index=False)
        self.class_offsets_.to_parquet(out / "class_quantiles.parquet", index=False)
        if self.lgb_ is not None:
            self.lgb_.models_[LGB].booster_.save_model(str(out / "lightgbm.txt"))
        elif getattr(self, "lgb_booster_", None) is not None:  # a loaded forecaster saved again
            self.lgb_booster_.save_model(str(out / "lightgbm.txt"))
        if self.lgb_horizon_ is not None:
            self.lgb_horizon_.save_model(str(out / "lightgbm_horizon.txt"))
            (out / "horizon.json").write_text(json.dumps({"horizon": self.horizon_h_}))
        return out

    @classmethod
    def load(cls, folder: str | Path) -> DemandForecaster:
        import lightgbm as lgb

        src = Path(folder)
        self = cls(DemandConfig.from_json((src / "config.json").read_text()))
        selection = json.loads((src / "selection.json").read_text())
        self.selection_ = {k: tuple(v) for k, v in selection["selection"].items()}
        self.candidates_ = list(selection["candidates"])
        self.exog_ = list(selection["exog"])
        self.statics_ = list(selection["statics"])
        self.series_offsets_ = pd.read_parquet(src / "series_quantiles.parquet")
        self.class_offsets_ = pd.read_parquet(src / "class_quantiles.parquet")
        booster_file = src / "lightgbm.txt"
        self.lgb_booster_ = (
            lgb.Booster(model_file=str(booster_file)) if booster_file.exists() else None
        )
        self.lgb_ = None
        horizon_file = src / "lightgbm_horizon.txt"
        if horizon_file.exists():
            self.lgb_horizon_ = lgb.Booster(model_file=str(horizon_file))
            self.horizon_h_ = int(json.loads((src / "horizon.json").read_text())["horizon"])
        return self

    # --- computation ---------------------------------------------------------------------------
    def _panel(self, sales: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
        """(panel, keys, end) of ``sales`` validated, or of the training data (None)."""
        if sales is None:
            return self.panel_, self.keys_, self.end_
        sales = validate(sales, SALES, "<sales>") if not _is_validated(sales) else sales
        return prepare_panel(sales, self.config)

    def _fit(self, panel: pd.DataFrame, keys: pd.DataFrame, sales: pd.DataFrame) -> None:
        cfg = self.config
        self.panel_, self.keys_ = panel, keys
        self.exog_ = _exog_columns(panel)
        n_skus = keys["sku_id"].nunique()
        self.statics_ = ["channel", "sku"] if n_skus <= cfg.max_sku_categories else ["channel"]
        self.classes_ = series_classes(panel, keys)
        timings: dict[str, float] = {}
        self.screening_: dict[str, dict[str, Any]] = {}
        cv, scales, cv_series = self._cross_validate(panel, timings)
        cv = _with_ensembles(cv, cfg)
        self.candidates_ = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")]
        if cv.empty:
            warnings.warn(
                "no series is long enough to cross-validate "
                f"({cv_series} of {panel['unique_id'].nunique()}); using default models per class",
                ShortHistoryWarning,
                stacklevel=3,
            )
            self.selection_ = dict(DEFAULT_SELECTION)
            self.cv_ = cv
            self.series_offsets_ = pd.DataFrame(columns=[*KEYS, *cfg.quantiles])
            self.class_offsets_ = pd.DataFrame(columns=["demand_class", *cfg.quantiles])
        else:
            cls_of = self.classes_.set_index("unique_id")["demand_class"]
            cv["demand_class"] = cv["unique_id"].map(cls_of).to_numpy()
            scores = _per_series_scores(cv, self.candidates_, scales, cfg.selection_metric)
            self.selection_ = _select(scores, self.candidates_)
            cv["forecast"] = _combine(cv, self.selection_)
            self.cv_ = cv
            self.series_offsets_, self.class_offsets_ = _quantile_offsets(
                cv, scales, keys, cfg, self.classes_
            )
            self.cv_ = self._held_out_quantiles(cv, scales, keys)
        self.scales_ = scales
        if cfg.use_lightgbm and _uses_lgb(self.selection_) and _lgb_trainable(panel, cfg):
            t = time.perf_counter()
            self.lgb_ = self._fit_lgb(panel)
            timings["lightgbm_fit"] = round(time.perf_counter() - t, 2)
        else:
            self.lgb_ = None
        self.lgb_booster_ = None
        self.timings_ = timings
        self.n_series_ = len(keys)

    def _fit_lgb(self, panel: pd.DataFrame) -> Any:
        """The global LightGBM on the latest periods of the panel within its row budget."""
        cfg = self.config
        periods = self._lgb_periods(panel)
        data = _latest(panel, periods + _warmup(cfg), cfg) if periods else panel
        mlf = _make_mlf(cfg, data)
        with _quiet():
            mlf.fit(_lgb_frame(data, self.exog_, self.statics_), static_features=self.statics_)
        return mlf

    def _fit_lgb_horizon(self, panel: pd.DataFrame) -> Any:
        """The direct horizon LightGBM's booster, on the rows the recursive one learns from:
        the features of each period, the target the mean of the next ``horizon`` periods
        from it (rows without ``horizon`` periods after them are left out)."""
        from sklearn.base import clone

        cfg = self.config
        periods = self._lgb_periods(panel)
        data = _latest(panel, periods + _warmup(cfg) + cfg.horizon, cfg) if periods else panel
        mlf = _make_mlf(cfg, data)
        with _quiet():
            prep = mlf.preprocess(
                _lgb_frame(data, self.exog_, self.statics_), static_features=self.statics_
            )
        ids = prep["unique_id"].to_numpy()
        ahead = _forward_mean(ids, prep["y"].to_numpy(), cfg.horizon)
        # a row's features see the series up to `first lag` periods before it: its target is
        # the horizon right after that, so the forecast from the features of the first-lag
        # step ahead uses every period up to the end of the data
        k = min(cfg.lag_list) - 1
        if k > 0:
            shifted = np.full(len(ahead), np.nan)
            shifted[k:] = np.where(ids[k:] == ids[:-k], ahead[:-k], np.nan)
            ahead = shifted
        rows = ~np.isnan(ahead)
        X = prep.loc[rows, mlf.ts.features_order_]
        del prep
        with _quiet():
            model = clone(mlf.models[LGB]).fit(X, ahead[rows])
        return model.booster_

    def _predict_horizon(
        self, panel: pd.DataFrame, keys: pd.DataFrame, end: pd.Timestamp, h: int
    ) -> pd.DataFrame:
        cfg = self.config
        direct = self.lgb_horizon_ is not None and self.horizon_h_ == h
        if not direct:
            per_period = self._predict(panel, keys, end, h)
            qcols = _qcols(cfg)
            out = per_period.groupby(KEYS, sort=True, observed=True, as_index=False).agg(
                {"forecast": "mean", **dict.fromkeys(qcols, "mean"), "demand_class": "first"}
            )
            days = _horizon_days(end, cfg, h)
            cols = [*KEYS, "demand_class", "forecast", *qcols, "periods", "days"]
            return out.assign(periods=h, days=days)[cols]
        classes = series_classes(panel, keys)
        cls_of = classes.set_index("unique_id")["demand_class"]
        needed = sorted({m for models in self.selection_.values() for m in models})
        fc = pd.DataFrame({"unique_id": keys["unique_id"].to_numpy()})
        local_names = [m for m in needed if m != LGB]
        if local_names and not panel.empty:
            local = self._local_forecasts(panel, cls_of, local_names, h, False)
            if local is not None:
                ran = [m for m in local_names if m in local.columns]
                means = local.groupby("unique_id", sort=False)[ran].mean()
                fc = fc.merge(means, left_on="unique_id", right_index=True, how="left")
        if LGB in needed and not panel.empty:
            pred = self._predict_lgb_direct(panel)
            fc = fc.merge(pred, on="unique_id", how="left")
        fc["demand_class"] = fc["unique_id"].map(cls_of).fillna(NO_DEMAND).to_numpy()
        for m in needed:
            if m not in fc.columns:
                fc[m] = np.nan
        fc["forecast"] = np.clip(_combine(fc, self.selection_), 0.0, None)
        out = fc.merge(keys, on="unique_id", how="left")
        out = self._add_quantiles(out, panel)
        out.loc[out["demand_class"] == NO_DEMAND, ["forecast", *_qcols(cfg)]] = 0.0
        out = out.assign(periods=h, days=_horizon_days(end, cfg, h))
        cols = [*KEYS, "demand_class", "forecast", *_qcols(cfg), "periods", "days"]
        return out[cols].sort_values(KEYS).reset_index(drop=True)

    def _cross_validate(
        self, panel: pd.DataFrame, timings: dict[str, float]
    ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
        cfg = self.config
        h, step = cfg.horizon, cfg.step
        lengths = panel.groupby("unique_id", sort=False).size()
        min_train = max(cfg.season + 1, 10) if cfg.season <= 24 else 10
        # as many windows as the history of at least half of the series allows
        nw = cfg.n_windows
        while nw > 1 and (lengths >= h + step * (nw - 1) + min_train).mean() < 0.5:
            nw -= 1
        if nw < cfg.n_windows:
            warnings.warn(
                f"history too short for {cfg.n_windows} backtest windows of {h} periods; "
                f"using {nw}",
                ShortHistoryWarning,
                stacklevel=4,
            )
        self.n_windows_ = nw
        long_ids = lengths.index[lengths >= h + step * (nw - 1) + min_train]
        data = panel if len(long_ids) == len(lengths) else panel[panel["unique_id"].isin(long_ids)]
        ends = data["ds"].max()
        offsets = pd.tseries.frequencies.to_offset(cfg.pandas_freq)
        first_cutoff = ends - offsets * (h + step * (nw - 1))
        scales = _scales(data, first_cutoff)
        if data.empty:
            return pd.DataFrame(columns=["unique_id", "ds", "cutoff", "y"]), scales, 0
        t = time.perf_counter()
        hist = cfg.history_periods
        holdout = h + step * (nw - 1)
        local_data = _latest(data, hist + holdout, cfg) if hist else data
        sample = self._costly_sample(local_data)
        # AutoETS and SeasonalNaive support refit=False (fit once, then forward the state);
        # the intermittent-demand models are cheap and are refit at every window; the costly
        # models are backtested on a sample of the costly classes first
        sampled = np.concatenate([np.asarray(v, dtype=np.int64) for v in sample.values()])
        frames = []
        for names, can_forward, costly in _cv_groups(cfg):
            part_data = local_data
            if costly:
                part_data = local_data[local_data["unique_id"].isin(sampled)]
            if names and not part_data.empty:
                frames.append(self._local_cv(names, can_forward, part_data, nw))
        if not frames:
            return pd.DataFrame(columns=["unique_id", "ds", "cutoff", "y"]), scales, 0
        cv = frames[0]  # the groups over every series come first
        for extra in frames[1:]:
            cv = cv.join(extra.drop(columns="y"), how="left")
        cv = _fill_nan_models(cv.reset_index())
        costly_cols = [c for c in cv.columns if c in COSTLY_MODELS]
        cv.loc[~cv["unique_id"].isin(sampled).to_numpy(), costly_cols] = np.nan  # not fitted
        timings["local_cv"] = round(time.perf_counter() - t, 2)
        periods = self._lgb_periods(data)
        lgb_data = _latest(data, periods + _warmup(cfg) + holdout, cfg) if periods else data
        if cfg.use_lightgbm and _lgb_trainable(lgb_data, cfg, windows=nw):
            t = time.perf_counter()
            mlf = _make_mlf(cfg, lgb_data)
            with _quiet():
                lcv = mlf.cross_validation(
                    _lgb_frame(lgb_data, _exog_columns(data), self.statics_),
                    n_windows=nw,
                    h=h,
                    step_size=step,
                    static_features=self.statics_,
                    refit=False,
                )
            cv = cv.merge(
                lcv[["unique_id", "ds", "cutoff", LGB]],
                on=["unique_id", "ds", "cutoff"],
                how="left",
            )
            cv[LGB] = cv[LGB].clip(lower=0).fillna(cv["y"].mean())
            timings["lightgbm_cv"] = round(time.perf_counter() - t, 2)
        if costly_cols:
            t = time.perf_counter()
            cv = self._screen_costly(cv, sample, local_data, scales, nw)
            timings["costly_screening"] = round(time.perf_counter() - t, 2)
        return cv, scales, len(long_ids)

    def _local_cv(
        self, names: tuple[str, ...], can_forward: bool, data: pd.DataFrame, nw: int
    ) -> pd.DataFrame:
        """statsforecast's backtest of the local ``names``, indexed by series, period, cutoff."""
        cfg = self.config
        sf = _make_sf(
            cfg,
            names,
            with_tsb_grid=True,
            fallback=not can_forward,
            n_jobs=_local_jobs(cfg, names, data["unique_id"].nunique()),
        )
        part = self._run_local(
            sf,
            "cross_validation",
            data[["unique_id", "ds", "y"]],
            h=cfg.horizon,
            n_windows=nw,
            step_size=cfg.step,
            refit=not can_forward,
        )
        return part.set_index(["unique_id", "ds", "cutoff"])

    def _costly_sample(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per costly class, the series (of ``data``) the costly models are backtested on
        first: all of them, or a seeded sample of ``costly_sample``."""
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        cls_of = self.classes_.set_index("unique_id")["demand_class"]
        present = cls_of.reindex(np.unique(data["unique_id"].to_numpy()))
        out = {}
        for cls in cfg.costly_classes:
            ids = present.index[present.to_numpy() == cls].to_numpy()
            if cfg.costly_sample and len(ids) > cfg.costly_sample:
                ids = np.sort(rng.choice(ids, cfg.costly_sample, replace=False))
            out[cls] = ids
        return out

    def _screen_costly(
        self,
        cv: pd.DataFrame,
        sample: dict[str, np.ndarray],
        data: pd.DataFrame,
        scales: pd.DataFrame,
        nw: int,
    ) -> pd.DataFrame:
        """Per costly class: if a candidate with a costly model is the best on the sample,
        backtest the costly models on the rest of the class; if not, they are dropped there
        (no backtest values, never selected). Decisions in ``screening_``."""
        cfg = self.config
        cls_of = self.classes_.set_index("unique_id")["demand_class"]
        cv = _with_ensembles(cv.assign(demand_class=cv["unique_id"].map(cls_of).to_numpy()), cfg)
        candidates = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")]
        candidates.remove("demand_class")
        costly = [c for c in candidates if set(_members(c)) & set(COSTLY_MODELS)]
        costly_names = tuple(m for m in cfg.local_models if m in COSTLY_MODELS)
        for cls, ids in sample.items():
            everyone = np.unique(cv.loc[cv["demand_class"] == cls, "unique_id"].to_numpy())
            if len(ids) == 0:
                continue
            rows = cv["unique_id"].isin(ids)
            scores = _per_series_scores(cv[rows], candidates, scales, cfg.selection_metric)
            means = scores[candidates].mean()
            best = str(means.idxmin())
            wins = best in costly
            self.screening_[cls] = {
                "sample": len(ids),
                "series": len(everyone),
                "best_on_sample": best,
                "best_costly": str(means[costly].idxmin()),
                "costly_kept": wins,
            }
            rest = np.setdiff1d(everyone, ids)
            in_class = cv["demand_class"].to_numpy() == cls
            if not wins:
                cv.loc[in_class, costly] = np.nan
                continue
            if len(rest) == 0:
                continue
            frames = [
                self._local_cv(names, fwd, data[data["unique_id"].isin(rest)], nw)
                for names, fwd, is_costly in _cv_groups(cfg)
                if is_costly and names
            ]
            extra = pd.concat([f.drop(columns="y") for f in frames], axis=1)
            index = pd.MultiIndex.from_frame(cv[["unique_id", "ds", "cutoff"]])
            cheap = [c for c in candidates if "+" not in c and c not in COSTLY_MODELS]
            fallback = cv[cheap].mean(axis=1).to_numpy()  # where a costly fit failed
            new_rows = in_class & cv["unique_id"].isin(rest).to_numpy()
            for col in [c for c in extra.columns if c in costly_names]:
                values = extra[col].reindex(index).to_numpy()
                values = np.where(np.isnan(values), fallback, values)
                cv[col] = np.where(new_rows, values, cv[col].to_numpy())
        return _with_ensembles(cv.drop(columns="demand_class"), cfg)

    def _lgb_periods(self, panel: pd.DataFrame) -> int | None:
        """Latest periods per series LightGBM trains on: all of them (None) while the rows
        stay within ``lgb_max_rows``, else as many as the budget allows (never fewer than
        two horizons). A global model learns from every series, so with many series a
        shorter window per series loses little and keeps training time flat."""
        cfg = self.config
        if not cfg.lgb_max_rows or panel.empty:
            return None
        lengths = np.bincount(panel["unique_id"].to_numpy())
        n_series = int((lengths > 0).sum())
        budget = max(cfg.lgb_max_rows // n_series, 2 * cfg.horizon)
        return budget if budget < lengths.max() else None

    def _predict(
        self,
        panel: pd.DataFrame,
        keys: pd.DataFrame,
        end: pd.Timestamp,
        h: int,
        all_models: bool = False,
    ) -> pd.DataFrame:
        cfg = self.config
        classes = series_classes(panel, keys)
        cls_of = classes.set_index("unique_id")["demand_class"]
        needed = sorted({m for models in self.selection_.values() for m in models})
        if all_models:
            has_lgb = self.lgb_ is not None or self.lgb_booster_ is not None
            needed = sorted(
                {*needed, *(m for c in self.candidates_ for m in _members(c))}
                - (set() if has_lgb else {LGB})
            )
        locals_needed = [m for m in needed if m != LGB]
        fc = _future_frame(keys["unique_id"].to_numpy(), end, cfg, h)
        if locals_needed and not panel.empty:
            local = self._local_forecasts(panel, cls_of, locals_needed, h, all_models)
            if local is not None:
                fc = fc.merge(local, on=["unique_id", "ds"], how="left")
        if LGB in needed and not panel.empty:
            fc = fc.merge(self._predict_lgb(panel, h), on=["unique_id", "ds"], how="left")
        fc["demand_class"] = fc["unique_id"].map(cls_of).fillna(NO_DEMAND).to_numpy()
        for m in needed:  # a model that could not run for a series: the mean of the others
            if m not in fc.columns:
                fc[m] = np.nan
        point = _combine(fc, self.selection_)
        fc["forecast"] = np.clip(point, 0.0, None)
        out = fc.merge(keys, on="unique_id", how="left")
        out = self._add_quantiles(out, panel)
        out.loc[out["demand_class"] == NO_DEMAND, ["forecast", *_qcols(cfg)]] = 0.0
        cols = [*KEYS, "ds", "forecast", *_qcols(cfg), "demand_class"]
        if all_models:
            for cand in self.candidates_:
                if set(_members(cand)) <= set(needed):
                    out[cand] = out[list(_members(cand))].mean(axis=1)
                    cols.append(cand)
        return out[cols].sort_values([*KEYS, "ds"]).reset_index(drop=True)

    def _local_forecasts(
        self,
        panel: pd.DataFrame,
        cls_of: pd.Series,
        models: list[str],
        h: int,
        all_models: bool,
    ) -> pd.DataFrame | None:
        """Forecasts of the local ``models``, each fitted on the latest history of the series
        whose class uses it (every series for ``all_models``; costly models only on the
        costly classes and those that select them); one statsforecast run per set of
        classes."""
        cfg = self.config
        hist = cfg.history_periods
        data = _latest(panel, hist, cfg) if hist else panel
        by_classes: dict[frozenset[str], list[str]] = {}
        for m in models:
            using = {c for c, sel in self.selection_.items() if m in sel and c != "_default"}
            if all_models:
                using |= set(cfg.costly_classes) if m in COSTLY_MODELS else set(DEMAND_CLASSES)
            by_classes.setdefault(frozenset(using), []).append(m)
        frames = []
        for classes, names in by_classes.items():
            ids = cls_of.index[cls_of.isin(classes)]
            part = data.loc[data["unique_id"].isin(ids), ["unique_id", "ds", "y"]]
            if part.empty:
                continue
            sf = _make_sf(
                cfg,
                tuple(_base_name(m) for m in names),
                tsb_names=names,
                n_jobs=_local_jobs(cfg, tuple(names), part["unique_id"].nunique()),
            )
            out = self._run_local(sf, "forecast", part, h=h)
            frames.append(_fill_nan_models(out).set_index(["unique_id", "ds"]))
        if not frames:
            return None
        return _fill_nan_models(pd.concat(frames, axis=1).reset_index())

    def _run_local(self, sf: Any, method: str, df: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
        """statsforecast's ``forecast`` / ``cross_validation`` here, or on Spark through
        fugue when an engine is set (same models, same numbers up to float32 rounding)."""
        if self.engine is None:
            with _quiet():
                out = getattr(sf, method)(df=df, **kwargs)
            return out.reset_index() if "unique_id" not in out.columns else out
        out = getattr(sf, method)(df=self.engine.createDataFrame(df), **kwargs).toPandas()
        for col in out.columns:
            if col not in ("unique_id", "ds", "cutoff") and out[col].dtype == "float32":
                out[col] = out[col].astype("float64")
        for col in ("ds", "cutoff"):
            if col in out.columns:
                out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
        out["unique_id"] = out["unique_id"].astype(df["unique_id"].dtype)
        order = [c for c in ("unique_id", "cutoff", "ds") if c in out.columns]
        return out.sort_values(order).reset_index(drop=True)

    def _predict_lgb_direct(self, panel: pd.DataFrame) -> pd.DataFrame:
        """The direct horizon model's forecast per series (``unique_id``, ``LightGBM``): on
        the features of the period one first lag after the end of the data, which read no
        period after the end. mlforecast's ``preprocess`` computes them, as in training, on
        the latest history with the first-lag periods appended as placeholders (demand 0,
        the last price, no promotion): one booster call, no recursion."""
        cfg = self.config
        step = min(cfg.lag_list)
        recent = _lgb_frame(_latest(panel, _warmup(cfg) + 1, cfg), self.exog_, self.statics_)
        ids = recent["unique_id"].to_numpy()
        last = recent.iloc[np.flatnonzero(np.append(ids[1:] != ids[:-1], True))]
        end = panel["ds"].max()
        dates = pd.date_range(end, periods=step + 1, freq=cfg.pandas_freq)[1:]
        ahead = last.iloc[np.repeat(np.arange(len(last)), step)].assign(
            ds=np.tile(dates.to_numpy(), len(last)), y=0.0
        )
        if "promo" in ahead.columns:
            ahead["promo"] = np.float32(0.0)
        frame = pd.concat([recent, ahead], ignore_index=True)
        frame = frame.iloc[np.argsort(frame["unique_id"].to_numpy(), kind="stable")]
        mlf = _make_mlf(cfg, frame)
        with _quiet():
            prep = mlf.preprocess(frame, static_features=self.statics_, dropna=False)
        rows = (prep["ds"] == dates[-1]).to_numpy()
        X = prep.loc[rows, mlf.ts.features_order_]
        pred = np.clip(np.asarray(self.lgb_horizon_.predict(X)), 0.0, None)
        return pd.DataFrame({"unique_id": prep.loc[rows, "unique_id"].to_numpy(), LGB: pred})

    def _predict_lgb(self, panel: pd.DataFrame, h: int) -> pd.DataFrame:
        """LightGBM's recursive forecasts of ``h`` periods."""
        cfg = self.config
        if self.lgb_ is not None and panel is self.panel_:
            mlf = self.lgb_
        else:
            booster = (
                self.lgb_.models_[LGB].booster_ if self.lgb_ is not None else self.lgb_booster_
            )
            if booster is None:
                raise ForecastingError(
                    "the selection uses LightGBM but no LightGBM model is fitted"
                )
            mlf = _make_mlf(cfg, panel)
            keep = max(cfg.lag_list) + max(cfg.window_list) + max(cfg.lag_list) + 1
            panel = _latest(panel, keep, cfg)  # every series ends at the last period
            with _quiet():
                mlf.preprocess(
                    _lgb_frame(panel, self.exog_, self.statics_), static_features=self.statics_
                )
            mlf.models_ = {LGB: _BoosterModel(booster)}
        future = mlf.make_future_dataframe(h)
        last = (
            _lgb_frame(panel, self.exog_, self.statics_)
            .groupby("unique_id", sort=False)[self.exog_]
            .last()
        )
        X = future.merge(last, left_on="unique_id", right_index=True, how="left")
        if "promo" in X.columns:
            X["promo"] = 0.0
        with _quiet():
            pred = mlf.predict(h, X_df=X if len(X.columns) > 2 else None)
        pred[LGB] = pred[LGB].clip(lower=0)
        return pred[["unique_id", "ds", LGB]]

    def _add_quantiles(self, out: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
        ids = panel["unique_id"].to_numpy()  # integer codes: group means by bincount
        counts = np.bincount(ids)
        seen = np.flatnonzero(counts)
        sums = np.bincount(ids, panel["y"].to_numpy(dtype="float64"))
        level = pd.Series(sums[seen] / counts[seen], index=seen)
        return apply_offsets(out, level, self.series_offsets_, self.class_offsets_, self.config)

    def _held_out_quantiles(
        self, cv: pd.DataFrame, scales: pd.DataFrame, keys: pd.DataFrame
    ) -> pd.DataFrame:
        """Quantiles on each backtest window from offsets learned on the other windows, so the
        backtest's pinball loss and coverage are out of sample (in-sample with one window)."""
        cfg = self.config
        cv = cv.merge(keys, on="unique_id", how="left")
        cutoffs = cv["cutoff"].unique()
        parts = []
        for cutoff in cutoffs:
            rows = cv["cutoff"] == cutoff
            learn = cv[~rows] if len(cutoffs) > 1 else cv
            own, pooled = _quantile_offsets(learn, scales, keys, cfg, self.classes_)
            parts.append(apply_offsets(cv[rows], scales["level"], own, pooled, cfg))
        return pd.concat(parts, ignore_index=True)

    def _check_fitted(self) -> None:
        if not hasattr(self, "selection_"):
            raise ForecastingError("call fit() (or DemandForecaster.load) before predict()")


# --- panel preparation ----------------------------------------------------------------------
def _is_validated(df: pd.DataFrame) -> bool:
    return (
        all(c in df.columns for c in SALES.required)
        and pd.api.types.is_datetime64_any_dtype(df["ds"])
        and pd.api.types.is_float_dtype(df["y"])
    )


def prepare_panel(
    sales: pd.DataFrame, config: DemandConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Sales contract -> (panel, keys, end).

    panel: ``unique_id`` (int), ``ds`` (period start), ``y``, ``channel`` (category) and the
    exogenous ``price_ratio`` / ``promo`` when the sales have them; from each series' first
    sale to the last period of the data, gaps as zeros. keys: ``unique_id, sku_id, channel``
    for every series, those without a sale included. end: the data's last period.
    """
    from utilsforecast.preprocessing import fill_gaps

    # IDs are hashed once (factorize); everything after works on integer arrays, taken in
    # one pass (the sales of M5's size are 59 M rows: no intermediate frame copies)
    sku_code, sku_names = pd.factorize(_lexical(sales["sku_id"]), sort=True)
    ch_code, ch_names = pd.factorize(_lexical(sales["channel"]), sort=True)
    pair = sku_code.astype(np.int64) * len(ch_names) + ch_code
    del sku_code, ch_code
    uid, pairs = pd.factorize(pair, sort=True)  # unique_id in (sku_id, channel) order
    del pair
    keys = pd.DataFrame(
        {
            "unique_id": np.arange(len(pairs)),
            "sku_id": np.asarray(sku_names, dtype=object)[pairs // len(ch_names)],
            "channel": np.asarray(ch_names, dtype=object)[pairs % len(ch_names)],
        }
    )
    cols: dict[str, np.ndarray] = {
        "unique_id": uid,
        "ds": period_start(sales["ds"], config.freq).to_numpy(dtype="datetime64[ns]"),
        "y": sales["y"].to_numpy(dtype="float64"),
    }
    has_price = "price" in sales.columns and sales["price"].notna().any()
    has_promo = "promo" in sales.columns and sales["promo"].notna().any()
    agg: dict[str, str] = {"y": "sum"}
    if has_price:
        cols["price"] = sales["price"].to_numpy(dtype="float64")
        agg["price"] = "mean"
    if has_promo:
        cols["promo"] = sales["promo"].astype("float64").to_numpy()
        agg["promo"] = "max"
    order = _panel_order(cols["unique_id"], cols["ds"])
    if order is not None:
        for k in list(cols):  # one column at a time: one extra column in memory, not all
            cols[k] = cols[k][order]
        del order
    ids, ds = cols["unique_id"], cols["ds"]
    repeats = (ids[1:] == ids[:-1]) & (ds[1:] == ds[:-1])
    end = pd.Timestamp(ds.max())
    if repeats.any():  # finer grain than freq: sum into periods
        df = pd.DataFrame(cols).groupby(["unique_id", "ds"], sort=True).agg(agg).reset_index()
        cols = {k: df[k].to_numpy() for k in df.columns}
        del df
    # from each series' first sale (drops series without a sale too)
    sold = cols["y"] > 0
    day = cols["ds"].view("int64")
    first = np.full(len(pairs), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, cols["unique_id"][sold], day[sold])
    keep = day >= first[cols["unique_id"]]
    del sold, day
    if not keep.all():
        for k in list(cols):
            cols[k] = cols[k][keep]
    del keep
    df = pd.DataFrame(cols, copy=False)
    del cols
    if df.empty:
        return _empty_panel(), keys, end
    if not _complete(df, end, config):
        df = fill_gaps(
            df,
            freq=config.pandas_freq,
            start="per_serie",
            end=end,
            id_col="unique_id",
            time_col="ds",
        )
        df["y"] = df["y"].fillna(0.0)
        df = df.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    if has_price:
        price = df["price"].to_numpy(dtype="float64")
        if np.isnan(price).any():  # gaps: the last known price, else the next one
            grouped = df.groupby("unique_id", sort=False)["price"]
            price = grouped.ffill().fillna(grouped.bfill()).to_numpy(dtype="float64")
            del grouped
        ids = df["unique_id"].to_numpy()
        known = ~np.isnan(price)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_price = np.bincount(ids[known], price[known], len(pairs)) / np.bincount(
                ids[known], minlength=len(pairs)
            )
            ratio = price / mean_price[ids]
        df["price_ratio"] = np.nan_to_num(ratio, nan=1.0, posinf=1.0).astype("float32")
        del df["price"], price, mean_price, ratio  # in place: no copy of the panel
    if has_promo:
        df["promo"] = df["promo"].fillna(0.0).astype("float32")
    ids = df["unique_id"].to_numpy()
    df["sku"] = pd.Categorical.from_codes(
        (pairs // len(ch_names))[ids], categories=pd.Index(sku_names, dtype=object)
    )
    df["channel"] = pd.Categorical.from_codes(
        (pairs % len(ch_names))[ids], categories=pd.Index(ch_names, dtype=object)
    )
    return df, keys, end


def _lexical(ids: pd.Series) -> pd.Series:
    """Categorical IDs with their categories in text order (factorize sorts by category
    order), so that series get the same ``unique_id`` as from plain text IDs."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.set_categories(sorted(ids.cat.categories))
    return ids


def _panel_order(ids: np.ndarray, ds: np.ndarray) -> np.ndarray | None:
    """Row order that sorts by (series, period); None when already sorted. A table stored
    series by series in time order (in another order of series) is reordered by blocks."""
    if _strictly_increasing(ids, ds):
        return None
    n = len(ids)
    starts = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1]
    same = ids[1:] == ids[:-1]
    if len(np.unique(ids[starts])) == len(starts) and np.all(ds[1:][same] > ds[:-1][same]):
        perm = np.argsort(ids[starts], kind="stable")
        lengths = np.diff(np.r_[starts, n])[perm]
        offsets = np.cumsum(lengths) - lengths
        return np.repeat(starts[perm] - offsets, lengths) + np.arange(n)
    return np.lexsort((ds, ids))


def _strictly_increasing(ids: np.ndarray, ds: np.ndarray) -> bool:
    """Rows sorted by (series, period) without repeats."""
    if len(ids) < 2:
        return True
    return bool(np.all((ids[1:] > ids[:-1]) | ((ids[1:] == ids[:-1]) & (ds[1:] > ds[:-1]))))


def _complete(df: pd.DataFrame, end: pd.Timestamp, config: DemandConfig) -> bool:
    """Every series has one row per period from its first row to ``end`` (no gap to fill);
    only decided for fixed-length periods (days, weeks)."""
    if config.freq not in ("D", "W"):
        return False
    period_days = 1 if config.freq == "D" else 7
    g = df.groupby("unique_id", sort=False)["ds"]
    first, n = g.min(), g.size()
    expected = (pd.Timestamp(end) - first).dt.days.to_numpy() // period_days + 1
    return bool(np.array_equal(n.to_numpy(), expected))


def _empty_panel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": pd.Series(dtype="int64"),
            "ds": pd.Series(dtype="datetime64[ns]"),
            "y": pd.Series(dtype="float64"),
            "channel": pd.Categorical([]),
        }
    )


def series_classes(panel: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Syntetos-Boylan class of every series in ``keys`` (``no_demand`` without a sale).

    The same ADI and CV^2 as `classify_demand`, computed on the panel's arrays (sorted by
    series and period, one row per period): counts and sums per series with ``bincount``,
    no copy of the panel."""
    n = len(keys)
    if panel.empty:
        return pd.DataFrame({"unique_id": keys["unique_id"], "demand_class": NO_DEMAND})
    uid = panel["unique_id"].to_numpy()
    y = panel["y"].to_numpy(dtype="float64")
    sold = y > 0
    pos = np.arange(len(y))
    first_sale = np.full(n, len(y), dtype=np.int64)
    np.minimum.at(first_sale, uid[sold], pos[sold])
    last_row = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_row, uid, pos)
    n_nonzero = np.bincount(uid[sold], minlength=n).astype("float64")
    size_sum = np.bincount(uid[sold], weights=y[sold], minlength=n)
    size_sq = np.bincount(uid[sold], weights=y[sold] ** 2, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(n_nonzero > 0, (last_row - first_sale + 1) / n_nonzero, np.nan)
        mean = size_sum / n_nonzero
        var = np.clip(size_sq / n_nonzero - mean**2, 0.0, None)
        cv2 = var / mean**2
    classes = syntetos_boylan(adi, cv2)
    return pd.DataFrame(
        {
            "unique_id": keys["unique_id"].to_numpy(),
            "demand_class": classes[keys["unique_id"].to_numpy()],
        }
    )


def _exog_columns(panel: pd.DataFrame) -> list[str]:
    return [c for c in ("price_ratio", "promo") if c in panel.columns]


#: The value of an exogenous feature when the data to forecast does not have it.
NEUTRAL_EXOG = {"price_ratio": 1.0, "promo": 0.0}


def _lgb_frame(panel: pd.DataFrame, exog: list[str], statics: list[str]) -> pd.DataFrame:
    """The columns LightGBM sees: exactly the static and exogenous features it was trained
    with (the SKU as a category only when there are few enough SKUs)."""
    frame = panel[["unique_id", "ds", "y", *statics, *[c for c in exog if c in panel.columns]]]
    missing = {c: np.float32(NEUTRAL_EXOG[c]) for c in exog if c not in panel.columns}
    return frame.assign(**missing) if missing else frame


def _future_frame(ids: np.ndarray, end: pd.Timestamp, cfg: DemandConfig, h: int) -> pd.DataFrame:
    """Every series x the next ``h`` periods after the data's last period ``end``."""
    dates = pd.date_range(end, periods=h + 1, freq=cfg.pandas_freq)[1:]
    return pd.DataFrame({"unique_id": np.repeat(ids, h), "ds": np.tile(dates.to_numpy(), len(ids))})


# --- models ---------------------------------------------------------------------------------
def _tsb_alias(alpha_d: float, alpha_p: float) -> str:
    return f"TSB_d{alpha_d:g}_p{alpha_p:g}"


def _base_name(name: str) -> str:
    return "TSB" if name.startswith("TSB_") else name


def _make_sf(
    cfg: DemandConfig,
    names: tuple[str, ...],
    *,
    with_tsb_grid: bool = False,
    tsb_names: list[str] | None = None,
    fallback: bool = True,
    n_jobs: int | None = None,
) -> Any:
    from statsforecast import StatsForecast
    from statsforecast import models as sfm

    s = cfg.season
    models: list[Any] = []
    for name in dict.fromkeys(names):
        if name == "AutoETS":
            models.append(sfm.AutoETS(season_length=s if s <= 24 else 1))
        elif name == "SeasonalNaive":
            models.append(sfm.SeasonalNaive(season_length=s))
        elif name == "CrostonSBA":
            models.append(sfm.CrostonSBA())
        elif name == "IMAPA":
            models.append(sfm.IMAPA())
        elif name == "ADIDA":
            models.append(sfm.ADIDA())
        elif name == "TSB":
            grid = (
                cfg.tsb_grid
                if with_tsb_grid
                else [_parse_tsb(n) for n in (tsb_names or []) if n.startswith("TSB_")]
            )
            for a_d, a_p in grid:
                models.append(sfm.TSB(alpha_d=a_d, alpha_p=a_p, alias=_tsb_alias(a_d, a_p)))
    return StatsForecast(
        models=models,
        freq=cfg.pandas_freq,
        n_jobs=cfg.n_jobs if n_jobs is None else n_jobs,
        fallback_model=sfm.HistoricAverage() if fallback else None,
    )


#: Series from which a costly model's fits are spread over worker processes.
PARALLEL_MIN_SERIES = 1000


def _local_jobs(cfg: DemandConfig, names: tuple[str, ...], n_series: int) -> int:
    """Worker processes for one statsforecast run: statsforecast forks the whole process
    per worker, so the cheap models (milliseconds per series) run in this process and only
    many costly fits are spread out."""
    costly = any(_base_name(m) in COSTLY_MODELS for m in names)
    return cfg.n_jobs if costly and n_series >= PARALLEL_MIN_SERIES else 1


def _parse_tsb(name: str) -> tuple[float, float]:
    _, d, p = name.split("_")
    return float(d[1:]), float(p[1:])


def _make_mlf(cfg: DemandConfig, panel: pd.DataFrame) -> Any:
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
        n_jobs=cfg.n_jobs,
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


def _fill_nan_models(frame: pd.DataFrame) -> pd.DataFrame:
    """A model without a forecast for a row (too short for its season) gets the row's mean of
    the other models."""
    models = [c for c in frame.columns if c not in ("unique_id", "ds", "cutoff", "y")]
    if not models:
        return frame
    values = frame[models]
    row_mean = values.mean(axis=1)
    frame[models] = values.apply(lambda col: col.fillna(row_mean)).clip(lower=0.0)
    return frame


def _with_ensembles(cv: pd.DataFrame, cfg: DemandConfig) -> pd.DataFrame:
    """The mean of LightGBM and each local model, as candidates of their own."""
    models = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y", "demand_class")]
    if cfg.ensembles and LGB in models:
        for model in [c for c in models if c != LGB and "+" not in c]:
            cv[f"{LGB}+{model}"] = (cv[LGB] + cv[model]) / 2
    return cv


def _cv_groups(cfg: DemandConfig) -> list[tuple[tuple[str, ...], bool, bool]]:
    """(models, forward the state instead of refitting, costly classes only) per
    statsforecast run of the backtest; the runs over every series first."""
    groups = []
    for forward in (True, False):
        names = [m for m in cfg.local_models if (m in FORWARD_MODELS) == forward]
        groups.append((tuple(m for m in names if m not in COSTLY_MODELS), forward, False))
        groups.append((tuple(m for m in names if m in COSTLY_MODELS), forward, True))
    return sorted(groups, key=lambda g: g[2])


def _forward_mean(ids: np.ndarray, y: np.ndarray, h: int) -> np.ndarray:
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


def _horizon_days(end: pd.Timestamp, cfg: DemandConfig, h: int) -> float:
    """Days in the ``h`` periods after the period starting at ``end``."""
    dates = pd.date_range(end, periods=h + 2, freq=cfg.pandas_freq)
    return float((dates[-1] - dates[1]).days)


def _latest(panel: pd.DataFrame, periods: int, cfg: DemandConfig) -> pd.DataFrame:
    """The rows of the last ``periods`` periods of the data (every series ends at the data's
    last period)."""
    if panel.empty:
        return panel
    try:
        start = panel["ds"].max() - pd.tseries.frequencies.to_offset(cfg.pandas_freq) * periods
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        return panel  # more periods than the calendar holds: all of them
    return panel[panel["ds"] > start]


def _warmup(cfg: DemandConfig) -> int:
    """Periods at the start of a series whose LightGBM features are not known yet."""
    return max(max(cfg.lag_list), min(cfg.lag_list) + max(cfg.window_list))


def _lgb_trainable(panel: pd.DataFrame, cfg: DemandConfig, windows: int = 0) -> bool:
    """Enough rows with every lag known (after holding out the backtest windows) to train."""
    lengths = panel.groupby("unique_id", sort=False).size()
    warmup = _warmup(cfg)  # NaN features
    usable = (lengths - warmup - windows * cfg.step).clip(lower=0).sum()
    return bool(usable >= 100)


def _uses_lgb(selection: dict[str, tuple[str, ...]]) -> bool:
    return any(LGB in models for models in selection.values())


def _members(candidate: str) -> tuple[str, ...]:
    return tuple(candidate.split("+"))


def _combine(frame: pd.DataFrame, selection: dict[str, tuple[str, ...]]) -> np.ndarray:
    """The point forecast of each row: the mean of its class's selected models."""
    out = np.full(len(frame), np.nan)
    classes = frame["demand_class"].to_numpy()
    fallback = selection.get("_default") or next(iter(selection.values()))
    for cls in np.unique(classes):
        members = list(selection.get(str(cls), fallback))
        rows = classes == cls
        out[rows] = frame.loc[rows, members].mean(axis=1).to_numpy()
    return out


# --- backtest statistics --------------------------------------------------------------------
def _scales(panel: pd.DataFrame, cutoff: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per series, from the panel's rows up to ``cutoff`` (the first backtest cutoff):
    MAE and MSE of the one-step naive forecast (MASE and RMSSE denominators) and the mean
    demand. The panel is sorted by series and period, one row per period; computed on its
    arrays without copying it."""
    uid = panel["unique_id"].to_numpy()
    y = panel["y"].to_numpy(dtype="float64")
    inside = np.ones(len(y), dtype=bool) if cutoff is None else panel["ds"].to_numpy() <= cutoff
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
            index=pd.Index(np.arange(n), name="unique_id"),
        )[rows > 0]
    floor = 1e-6
    return scale.fillna(floor).clip(lower=floor)


def _per_series_scores(
    cv: pd.DataFrame, candidates: list[str], scales: pd.DataFrame, metric: str
) -> pd.DataFrame:
    """Per series and candidate: RMSSE or MASE over all backtest windows."""
    err = cv[candidates].sub(cv["y"], axis=0)
    if metric == "mase":
        score = err.abs().groupby(cv["unique_id"].to_numpy()).mean()
        score = score.div(scales["mase_scale"].reindex(score.index), axis=0)
    else:
        mse = (err**2).groupby(cv["unique_id"].to_numpy()).mean()
        score = mse.div(scales["rmsse_scale"].reindex(mse.index), axis=0).pow(0.5)
    score["demand_class"] = cv.groupby("unique_id")["demand_class"].first()
    return score


def _select(scores: pd.DataFrame, candidates: list[str]) -> dict[str, tuple[str, ...]]:
    """Per class the candidate with the lowest mean score; ``_default`` is the overall best."""
    by_class = scores.groupby("demand_class")[candidates].mean()
    selection: dict[str, tuple[str, ...]] = {
        str(cls): _members(str(row.idxmin())) for cls, row in by_class.iterrows()
    }
    selection["_default"] = _members(str(scores[candidates].mean().idxmin()))
    for cls in DEMAND_CLASSES:
        selection.setdefault(cls, selection["_default"])
    return selection


def _quantile_offsets(
    cv: pd.DataFrame,
    scales: pd.DataFrame,
    keys: pd.DataFrame,
    cfg: DemandConfig,
    classes: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quantile offsets (added to the point forecast) from backtest residuals.

    Hand-written rather than statsforecast / mlforecast conformal intervals: those belong to
    one model, while our forecast is a per-class selection or ensemble, so the residuals must
    be those of the combined forecast. Series with at least ``min_residuals`` residuals get
    their own empirical quantiles; the others get their class's quantiles of residuals
    divided by the series' mean demand, multiplied back by it at predict time.
    """
    resid = pd.DataFrame({"unique_id": cv["unique_id"], "e": cv["y"] - cv["forecast"]})
    names = list(cfg.quantiles)
    counts = resid.groupby("unique_id").size()
    own_ids = counts.index[counts >= cfg.min_residuals]
    mine = resid[resid["unique_id"].isin(own_ids)]
    own = _group_quantiles(mine["e"], mine["unique_id"], cfg.quantiles)
    own = own.merge(keys, left_index=True, right_on="unique_id")[[*KEYS, *names]]
    level = scales["level"].reindex(resid["unique_id"]).to_numpy()
    cls_of = classes.set_index("unique_id")["demand_class"]
    pooled = _group_quantiles(
        resid["e"] / level, resid["unique_id"].map(cls_of).rename("demand_class"), cfg.quantiles
    ).reset_index()
    return own.reset_index(drop=True), pooled


def _group_quantiles(
    values: pd.Series, groups: pd.Series, quantiles: dict[str, float]
) -> pd.DataFrame:
    grouped = values.groupby(groups.to_numpy())
    out = pd.DataFrame({name: grouped.quantile(q) for name, q in quantiles.items()})
    out.index.name = groups.name
    return out


def apply_offsets(
    out: pd.DataFrame,
    level: pd.Series,
    series_offsets: pd.DataFrame,
    class_offsets: pd.DataFrame,
    cfg: DemandConfig,
) -> pd.DataFrame:
    """Add ``forecast-{lo,hi}-L`` and ``forecast-median`` to rows with ``unique_id, sku_id,
    channel, demand_class, forecast``: the series' own offsets, else its class's relative
    offsets times the series' mean demand ``level``, else a Poisson band; non-negative and
    non-crossing."""
    out = out.drop(columns=[c for c in out.columns if c.startswith(("own_", "pool_"))])
    out = out.assign(level=out["unique_id"].map(level).to_numpy())
    names = list(cfg.quantiles)
    out = out.merge(
        series_offsets.rename(columns={n: f"own_{n}" for n in names}), on=KEYS, how="left"
    )
    out = out.merge(
        class_offsets.rename(columns={n: f"pool_{n}" for n in names}), on="demand_class", how="left"
    )
    for name, q in cfg.quantiles.items():
        offset = (
            out[f"own_{name}"]
            .astype("float64")
            .fillna(out[f"pool_{name}"].astype("float64") * out["level"])
        )
        if offset.isna().any():  # no backtest at all: a Poisson band around the forecast
            from scipy.stats import poisson

            fallback = poisson.ppf(q, out["forecast"].clip(lower=1e-9)) - out["forecast"]
            offset = offset.fillna(pd.Series(fallback, index=out.index))
        out[f"forecast-{name}"] = (out["forecast"] + offset).clip(lower=0.0)
    qcols = _qcols(cfg)
    out[qcols] = np.sort(out[qcols].to_numpy(), axis=1)  # no crossing quantiles
    return out.drop(columns=[c for c in out.columns if c.startswith(("own_", "pool_"))] + ["level"])


def _qcols(cfg: DemandConfig) -> list[str]:
    return [f"forecast-{n}" for n in cfg.quantiles]
