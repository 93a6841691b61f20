"""The demand forecaster's configuration: one frozen dataclass, logged as params and saved
with the model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from forecasting.periods import PANDAS_FREQ

#: Season length by frequency (days in a week, weeks and months in a year).
SEASON_LENGTH = {"D": 7, "W": 52, "M": 12}

#: Local statsforecast models that can be candidates (names are the forecast columns).
LOCAL_MODELS = ("AutoETS", "SeasonalNaive", "CrostonSBA", "TSB", "IMAPA", "ADIDA")

#: Lags and rolling windows of the global LightGBM model by frequency.
DEFAULT_LAGS = {"D": (7, 14, 21, 28), "W": (1, 2, 3, 4, 8, 13, 26, 52), "M": (1, 2, 3, 6, 12)}
DEFAULT_WINDOWS = {"D": (7, 28, 90), "W": (4, 13, 26), "M": (3, 6, 12)}
DATE_FEATURES = {"D": ("dayofweek", "month", "day"), "W": ("month", "week"), "M": ("month",)}
#: Periods of recent history the local models learn from, by frequency (None: all). A year
#: of days is 5x less work than M5's five years, with the same forecasts for models whose
#: memory is weeks; three years of weeks keep two full yearly seasons.
DEFAULT_HISTORY = {"D": 364, "W": 156, "M": None}
#: Models that cost far more per series than the rest: fitted only on the classes below.
COSTLY_MODELS = ("AutoETS",)


@dataclass(frozen=True)
class DemandConfig:
    """How `DemandForecaster` trains, backtests and forecasts.

    ``levels`` are central interval levels: 80 gives the 10% and 90% quantiles as
    ``forecast-lo-80`` / ``forecast-hi-80``; the median is always given as ``forecast-median``.
    """

    freq: str = "D"
    horizon: int = 28
    levels: tuple[int, ...] = (80,)
    n_windows: int = 4
    step_size: int | None = None  # default: the horizon (windows do not overlap)
    season_length: int | None = None  # default by frequency (SEASON_LENGTH)
    local_models: tuple[str, ...] = LOCAL_MODELS
    # demand classes whose series get the costly models (COSTLY_MODELS); the others, mostly
    # intermittent series where exponential smoothing rarely wins, are spared the fits
    costly_classes: tuple[str, ...] = ("smooth", "erratic")
    # series per costly class the costly models are backtested on first; they are fitted on
    # the rest of the class only where they win on the sample (0: every series at once)
    costly_sample: int = 300
    # series per costly class beyond the sample the costly models may still be fitted on:
    # a bigger class drops them even when they win on the sample (AutoETS costs about a
    # second per series and 4 windows here: 500 series are ~5 min on 2 cores), and the
    # verdict says so. None: no limit (on Spark, or with time to spare)
    costly_max_series: int | None = 500
    # periods of the latest history the local models fit on, per backtest window and at the
    # end (None: by frequency, DEFAULT_HISTORY; 0: all of it)
    history: int | None = None
    tsb_grid: tuple[tuple[float, float], ...] = ((0.1, 0.1), (0.2, 0.05), (0.05, 0.2))
    use_lightgbm: bool = True
    lags: tuple[int, ...] | None = None  # default by frequency (DEFAULT_LAGS)
    windows: tuple[int, ...] | None = None  # rolling-mean windows (DEFAULT_WINDOWS)
    # 300 rounds at 0.08 scored within 0.1% of 500 at 0.05 on M5's tuning windows (up to
    # d_1857) for 60% of the trees; benchmarks/demand.py's rule keeps the cheaper then
    lgb_n_estimators: int = 300
    lgb_learning_rate: float = 0.08
    lgb_num_leaves: int = 63
    lgb_min_child_samples: int = 50
    # LightGBM's training rows at most: all history while it fits, else fewer recent periods
    # per series (None: no limit)
    lgb_max_rows: int | None = 4_000_000
    # chosen on the tuning windows of benchmarks/demand.py (M5 subset up to d_1857, car parts
    # up to 12 months before the end), never on the reported periods
    tweedie_variance_power: float = 1.3
    # LightGBM on out-of-stock periods (demand not seen): "impute" learns from the estimated
    # demand (`forecasting.data.stockouts.uncensor`) like every model; "mask" keeps the
    # estimate in the lags but gives those periods no weight as targets
    stockout_targets: str = "impute"
    max_sku_categories: int = 5000  # up to this many SKUs, LightGBM sees the SKU as a category
    selection_metric: str = "rmsse"  # or "mase": what the per-class selection minimises
    ensembles: bool = True  # also try the mean of LightGBM and each local model per class
    min_residuals: int = 40  # fewer CV residuals than this: quantiles pooled by class
    n_jobs: int = 2
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes, logged

    def __post_init__(self) -> None:
        if self.freq not in PANDAS_FREQ:
            raise ValueError(f"freq must be one of D, W, M, not {self.freq!r}")
        if self.horizon < 1:
            raise ValueError("horizon must be >= 1")
        if self.n_windows < 1:
            raise ValueError("n_windows must be >= 1")
        unknown = set(self.local_models) - set(LOCAL_MODELS)
        if unknown:
            raise ValueError(f"unknown local models {sorted(unknown)}; known: {LOCAL_MODELS}")
        if self.history is not None and self.history < 0:
            raise ValueError("history is a number of periods >= 0 (0: all)")
        if self.costly_max_series is not None and self.costly_max_series < 0:
            raise ValueError("costly_max_series is a number of series >= 0, or None")
        if self.stockout_targets not in ("impute", "mask"):
            raise ValueError("stockout_targets is 'impute' or 'mask'")
        if self.selection_metric not in ("rmsse", "mase"):
            raise ValueError("selection_metric is 'rmsse' or 'mase'")
        if any(not 0 < lv < 100 for lv in self.levels):
            raise ValueError("levels are percentages strictly between 0 and 100")

    @property
    def pandas_freq(self) -> str:
        return PANDAS_FREQ[self.freq]

    @property
    def season(self) -> int:
        return self.season_length or SEASON_LENGTH[self.freq]

    @property
    def step(self) -> int:
        return self.step_size or self.horizon

    @property
    def history_periods(self) -> int | None:
        """Periods of history the models fit on (None: all)."""
        if self.history is None:
            return DEFAULT_HISTORY[self.freq]
        return self.history or None

    @property
    def lag_list(self) -> tuple[int, ...]:
        return self.lags or DEFAULT_LAGS[self.freq]

    @property
    def window_list(self) -> tuple[int, ...]:
        return self.windows or DEFAULT_WINDOWS[self.freq]

    @property
    def quantiles(self) -> dict[str, float]:
        """Column suffix -> quantile: ``{"lo-80": 0.1, "median": 0.5, "hi-80": 0.9}``."""
        out: dict[str, float] = {}
        for lv in sorted(self.levels, reverse=True):
            out[f"lo-{lv:g}"] = round((100 - lv) / 200, 6)
        out["median"] = 0.5
        for lv in sorted(self.levels):
            out[f"hi-{lv:g}"] = round((100 + lv) / 200, 6)
        return out

    def with_(self, **changes: Any) -> DemandConfig:
        return replace(self, **changes)
