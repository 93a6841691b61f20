"""The local candidates: statsforecast models by name, and their runs on this machine or on
Spark (through fugue) with the same models and numbers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from forecasting.demand.classification import DEMAND_CLASSES
from forecasting.demand.config import COSTLY_MODELS, DemandConfig
from forecasting.demand.panel import latest
from forecasting.errors import FallbackWarning

LGB = "LightGBM"
#: Local models whose cross-validation can fit once and forward the state.
FORWARD_MODELS = ("AutoETS", "SeasonalNaive")
#: Series from which a costly model's fits are spread over worker processes.
PARALLEL_MIN_SERIES = 1000
ID_COLUMNS = ("unique_id", "ds", "cutoff", "y")


#: Library warnings known to be harmless here, by message: mlforecast's rolling features
#: are empty in a series' warm-up periods; a series too short for LightGBM's features or
#: for a seasonal model's season gets no forecast from it, which `fill_nan_models` fills
#: and counts (``fallbacks_``). Every other warning is shown.
HARMLESS_WARNINGS = (
    r"Found null values in ",
    r"The following series were dropped completely due to the transformations",
    r"Historical data \(\d+\) is shorter than season_length",
)


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the libraries' known-harmless warnings (`HARMLESS_WARNINGS`), no others."""
    with warnings.catch_warnings():
        for pattern in HARMLESS_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        # statsforecast's ETS on a series barely longer than its parameters: an infinite
        # variance that only its intervals, unused here, would read
        warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning, "statsforecast.ets")
        yield


def tsb_alias(alpha_d: float, alpha_p: float) -> str:
    return f"TSB_d{alpha_d:g}_p{alpha_p:g}"


def parse_tsb(name: str) -> tuple[float, float]:
    _, d, p = name.split("_")
    return float(d[1:]), float(p[1:])


def base_name(name: str) -> str:
    """The statsforecast model behind a candidate column (``TSB_d0.1_p0.1`` -> ``TSB``)."""
    return "TSB" if name.startswith("TSB_") else name


def make_sf(
    cfg: DemandConfig,
    names: tuple[str, ...],
    *,
    with_tsb_grid: bool = False,
    tsb_names: list[str] | None = None,
    fallback: bool = True,
    n_jobs: int | None = None,
) -> Any:
    """A ``StatsForecast`` of the named models (TSB: the whole grid, or the named
    parameter sets)."""
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
                else [parse_tsb(n) for n in (tsb_names or []) if n.startswith("TSB_")]
            )
            for a_d, a_p in grid:
                models.append(sfm.TSB(alpha_d=a_d, alpha_p=a_p, alias=tsb_alias(a_d, a_p)))
    return StatsForecast(
        models=models,
        freq=cfg.pandas_freq,
        n_jobs=cfg.n_jobs if n_jobs is None else n_jobs,
        fallback_model=_counted_fallback() if fallback else None,
    )


#: The message of the warning `_counted_fallback` gives each time it stands in.
FALLBACK_MESSAGE = "statsforecast fit failed; HistoricAverage stood in"


def _counted_fallback() -> Any:
    """statsforecast's fallback model (HistoricAverage, used when a model's fit fails on a
    series) that says so: statsforecast swaps it in silently, so each use warns, and
    `run_local` counts those warnings (in worker processes they are printed, not counted).

    The class is built on first use (statsforecast is imported lazily) and bound to this
    module's ``CountedHistoricAverage``, so that worker processes can unpickle it."""
    cls = globals().get("CountedHistoricAverage")
    if cls is None:
        from statsforecast.models import HistoricAverage

        class CountedHistoricAverage(HistoricAverage):
            def fit(self, *args: Any, **kwargs: Any) -> Any:
                warnings.warn(FALLBACK_MESSAGE, FallbackWarning, stacklevel=2)
                return super().fit(*args, **kwargs)

            def forecast(self, *args: Any, **kwargs: Any) -> Any:
                warnings.warn(FALLBACK_MESSAGE, FallbackWarning, stacklevel=2)
                return super().forecast(*args, **kwargs)

            def new(self) -> Any:
                return type(self)()

        CountedHistoricAverage.__qualname__ = "CountedHistoricAverage"
        globals()["CountedHistoricAverage"] = cls = CountedHistoricAverage
    return cls()


def __getattr__(name: str) -> Any:
    """``CountedHistoricAverage`` built on first lookup (PEP 562): a fresh process (a Spark
    executor's Python worker) unpickling the fallback model finds it here."""
    if name == "CountedHistoricAverage":
        return type(_counted_fallback())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def local_jobs(cfg: DemandConfig, names: tuple[str, ...], n_series: int) -> int:
    """Worker processes for one statsforecast run: statsforecast forks the whole process
    per worker, so the cheap models (milliseconds per series) run in this process and only
    many costly fits are spread out."""
    costly = any(base_name(m) in COSTLY_MODELS for m in names)
    return cfg.n_jobs if costly and n_series >= PARALLEL_MIN_SERIES else 1


def run_local(sf: Any, method: str, df: pd.DataFrame, spark: Any = None, **kwargs: Any) -> Any:
    """statsforecast's ``forecast`` / ``cross_validation`` here, or on Spark through fugue
    when a session is given (same models, same numbers up to float32 rounding)."""
    if spark is None:
        with quiet(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FallbackWarning)
            out = getattr(sf, method)(df=df, **kwargs)
        stood_in = sum(FALLBACK_MESSAGE in str(w.message) for w in caught)
        for w in caught:  # everything else goes on as it came
            if FALLBACK_MESSAGE not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if stood_in:
            warnings.warn(
                f"statsforecast: HistoricAverage stood in for {stood_in} failed fits "
                f"({method} of {df['unique_id'].nunique()} series)",
                FallbackWarning,
                stacklevel=3,
            )
        return out.reset_index() if "unique_id" not in out.columns else out
    out = getattr(sf, method)(df=spark.createDataFrame(df), **kwargs).toPandas()
    for col in out.columns:
        if col not in ("unique_id", "ds", "cutoff") and out[col].dtype == "float32":
            out[col] = out[col].astype("float64")
    for col in ("ds", "cutoff"):
        if col in out.columns:
            out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
    out["unique_id"] = out["unique_id"].astype(df["unique_id"].dtype)
    order = [c for c in ("unique_id", "cutoff", "ds") if c in out.columns]
    return out.sort_values(order).reset_index(drop=True)


def fill_nan_models(
    frame: pd.DataFrame,
    counts: dict[str, int] | None = None,
    *,
    only: tuple[str, ...] | None = None,
    skip: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A model without a forecast for a row (a series too short for its season, a series
    LightGBM could not run on) gets the row's mean of the other models. ``counts`` (per
    model: series with such rows) is increased; ``only`` limits the filling to those
    models, ``skip`` leaves those models' gaps alone (costly models not fitted on purpose)."""
    models = [c for c in frame.columns if c not in ID_COLUMNS and c != "demand_class"]
    if not models:
        return frame
    values = frame[models]
    row_mean = values.mean(axis=1)
    targets = [m for m in (only or models) if m in models and m not in skip]
    ids = frame["unique_id"].to_numpy()
    for m in targets:
        missing = values[m].isna().to_numpy()
        if missing.any():
            if counts is not None:
                counts[m] = counts.get(m, 0) + int(np.unique(ids[missing]).size)
            frame[m] = values[m].fillna(row_mean)
    frame[models] = frame[models].clip(lower=0.0)
    return frame


def cv_groups(cfg: DemandConfig) -> list[tuple[tuple[str, ...], bool, bool]]:
    """(models, forward the state instead of refitting, costly classes only) per
    statsforecast run of the backtest; the runs over every series first."""
    groups = []
    for forward in (True, False):
        names = [m for m in cfg.local_models if (m in FORWARD_MODELS) == forward]
        groups.append((tuple(m for m in names if m not in COSTLY_MODELS), forward, False))
        groups.append((tuple(m for m in names if m in COSTLY_MODELS), forward, True))
    return sorted(groups, key=lambda g: g[2])


def local_forecasts(
    panel: pd.DataFrame,
    cls_of: pd.Series,
    names: list[str],
    selection: dict[str, tuple[str, ...]],
    cfg: DemandConfig,
    h: int,
    *,
    all_models: bool = False,
    spark: Any = None,
) -> pd.DataFrame | None:
    """Forecasts of the local ``names``, each fitted on the latest history of the series
    whose class uses it in ``selection`` (every series for ``all_models``; costly models only
    on the costly classes and those that select them); one statsforecast run per set of
    classes. ``cls_of``: each series' class, indexed by ``unique_id``. A model that could
    not forecast a series leaves NaN there."""
    hist = cfg.history_periods
    data = latest(panel, hist, cfg) if hist else panel
    by_classes: dict[frozenset[str], list[str]] = {}
    for m in names:
        using = {c for c, sel in selection.items() if m in sel and c != "_default"}
        if all_models:
            using |= set(cfg.costly_classes) if m in COSTLY_MODELS else set(DEMAND_CLASSES)
        by_classes.setdefault(frozenset(using), []).append(m)
    frames = []
    for classes, group in by_classes.items():
        ids = cls_of.index[cls_of.isin(classes)]
        part = data.loc[data["unique_id"].isin(ids), ["unique_id", "ds", "y"]]
        if part.empty:
            continue
        sf = make_sf(
            cfg,
            tuple(base_name(m) for m in group),
            tsb_names=group,
            n_jobs=local_jobs(cfg, tuple(group), part["unique_id"].nunique()),
        )
        out = run_local(sf, "forecast", part, spark, h=h).set_index(["unique_id", "ds"])
        frames.append(out.clip(lower=0.0))
    if not frames:
        return None
    # gaps (a series too short for a model) are left for the forecaster to fill and count
    return pd.concat(frames, axis=1).reset_index()
