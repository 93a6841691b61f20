"""Demand benchmark: the DemandForecaster against plain statsforecast baselines, tuned on
earlier windows and reported on periods nothing was tuned on, with and without what the
future already knows.

* M5 subset (../shared/data/m5_tiny), 28 days: the hyperparameter grid is scored by each
  candidate configuration's own rolling-origin backtest on d_1..d_1857 (windows ending
  d_1857); the chosen configuration is then reported on d_1858..d_1885 (trained on
  d_1..d_1857) and d_1886..d_1913 (trained on d_1..d_1885). Two variants: sales and price
  only, and with M5's calendar (events, SNAP of each store's state, through
  `load_m5_calendar`) and the price plan of the days forecast (M5 publishes its weekly
  prices ahead of the days they apply to: the competition's ``sell_prices`` held them).
* Car parts, 6 months: tuned on the data up to 12 months before the end; reported on the 6
  months after that and on the last 6 months. No calendar: monthly sales of spare parts
  have no event table, and the month of the year is already a feature.

Every trial of the tuning is a child run of one MLflow run (experiment
``benchmarks-demand-tuning``, the default store or ``--tracking-uri``).

For each reported period and variant: every candidate model's realized metrics, the final
forecast's, the backtest's promise from the same fit beside them
(``backtest_vs_realized_pct``), the 80% band's coverage overall and per demand class, and
the baselines' (AutoETS, SeasonalNaive, CrostonOptimized, TSB(0.1, 0.1), IMAPA, run in the
same process on the same panel), with wall times.
Run: python -m benchmarks.demand [--only m5|carparts] [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmarks.common import SHARED_DATA, peak_rss_mib, write_result
from forecasting.data.adapters import load_carparts, load_m5, load_m5_calendar
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.metrics import series_metrics, summarize
from forecasting.demand.panel import prepare_panel
from forecasting.demand.report import backtest_report
from forecasting.demand.report import overall as backtest_overall
from forecasting.errors import FallbackWarning, ShortHistoryWarning

BASELINES = ("AutoETS", "SeasonalNaive", "CrostonOptimized", "TSB", "IMAPA")


def run_baselines(panel: pd.DataFrame, cfg: DemandConfig, h: int) -> tuple[pd.DataFrame, float]:
    from statsforecast import StatsForecast
    from statsforecast import models as sfm

    models = [
        sfm.AutoETS(season_length=cfg.season if cfg.season <= 24 else 1),
        sfm.SeasonalNaive(season_length=cfg.season),
        sfm.CrostonOptimized(),
        sfm.TSB(alpha_d=0.1, alpha_p=0.1),
        sfm.IMAPA(),
    ]
    sf = StatsForecast(
        models=models, freq=cfg.pandas_freq, n_jobs=cfg.n_jobs, fallback_model=sfm.HistoricAverage()
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = sf.forecast(df=panel[["unique_id", "ds", "y"]], h=h)
    fc = fc.rename(columns={m: f"{m}_baseline" for m in BASELINES})
    return fc, time.perf_counter() - start


UNTUNED = "mlforecast_untuned"


def untuned_mlforecast(train: pd.DataFrame, test: pd.DataFrame, h: int) -> pd.DataFrame | None:
    """What a new user of mlforecast would try first on M5 (issue #16 measured it): default
    LightGBM, lags 1, 7, 14, 28, rolling means of 7 and 28 days of the first lag, day of
    week and month, with SNAP and the price (the test days' known prices) as exogenous
    columns. ``sku_id, channel, ds, mlforecast_untuned``; None without SNAP and price."""
    if not {"snap", "price"} <= set(train.columns):
        return None
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        uid = df["sku_id"].astype(str) + "|" + df["channel"].astype(str)
        return pd.DataFrame(
            {"unique_id": uid, "ds": df["ds"], "y": df["y"], "snap": df["snap"].astype(float),
             "price": df["price"].astype(float)}
        )  # fmt: skip

    mlf = MLForecast(
        models={UNTUNED: lgb.LGBMRegressor(random_state=0, verbose=-1)},
        freq="D",
        lags=[1, 7, 14, 28],
        lag_transforms={1: [RollingMean(window_size=7), RollingMean(window_size=28)]},
        date_features=["dayofweek", "month"],
    )
    mlf.fit(frame(train), static_features=[])
    future = frame(test).drop(columns="y")
    pred = mlf.predict(h, X_df=future)
    pred[UNTUNED] = pred[UNTUNED].clip(lower=0)
    ids = pred["unique_id"].str.split("|", n=1, expand=True)
    return pd.DataFrame(
        {"sku_id": ids[0], "channel": ids[1], "ds": pred["ds"], UNTUNED: pred[UNTUNED]}
    )


SAID = (FallbackWarning, ShortHistoryWarning)


@contextmanager
def said_aloud() -> Iterator[list[str]]:
    """The package's own warnings (`FallbackWarning`, `ShortHistoryWarning`) raised inside,
    as ``"Category: message"`` lines, each also shown as usual."""
    said: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        for category in SAID:
            warnings.simplefilter("always", category)
        yield said
    for w in caught:
        if issubclass(w.category, SAID):
            said.append(f"{w.category.__name__}: {w.message}")
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def evaluate(
    name: str,
    sales: pd.DataFrame,
    split: pd.Timestamp,
    cfg: DemandConfig,
    variant: Variant,
    baselines_of: dict[pd.Timestamp, tuple[pd.DataFrame, float]],
) -> dict[str, Any]:
    train_sales = sales[sales["ds"] <= split]
    test_sales = sales[sales["ds"] > split]
    h = cfg.horizon
    start = time.perf_counter()
    with said_aloud() as said:
        model = DemandForecaster(cfg).fit(train_sales, **variant.given(test_sales))
        fc = model.forecast(all_models=True)
    seconds_ours = time.perf_counter() - start
    panel, keys, _ = prepare_panel(train_sales, cfg)
    if split not in baselines_of:  # the same baselines for every variant
        base, seconds = run_baselines(panel, cfg, h)
        base = base.merge(keys, on="unique_id").drop(columns="unique_id")
        extra = untuned_mlforecast(train_sales, test_sales, h)
        if extra is not None:
            base = base.merge(extra, on=["sku_id", "channel", "ds"], how="left")
        baselines_of[split] = (base, seconds)
    base, seconds_base = baselines_of[split]
    df = (
        test_sales[["sku_id", "channel", "ds", "y"]]
        .merge(fc, on=["sku_id", "channel", "ds"], how="inner")
        .merge(base, on=["sku_id", "channel", "ds"], how="inner")
    )
    df = df.merge(keys, on=["sku_id", "channel"])
    ours = ["forecast", *[c for c in model.candidates_ if c in df.columns]]
    baselines = [f"{m}_baseline" for m in BASELINES]
    qmap = {"forecast": {q: f"forecast-{n}" for n, q in cfg.quantiles.items()}}
    others = [UNTUNED] if UNTUNED in df.columns else []
    per_series = series_metrics(df, panel, [*ours, *baselines, *others], qmap)
    classes = model.classes_.set_index("unique_id")["demand_class"]
    revenue = (
        train_sales.assign(
            rev=train_sales["y"] * train_sales["price"].fillna(0)
            if "price" in train_sales
            else train_sales["y"]
        )
        .groupby(["sku_id", "channel"])["rev"]
        .sum()
    )
    weights = keys.set_index(["sku_id", "channel"]).join(revenue.rename("rev"))
    summary = summarize(per_series, classes, weights.set_index("unique_id")["rev"])
    overall = summary[summary["demand_class"] == "all"].set_index("model")
    best_base = overall.loc[baselines, "rmsse"].idxmin()
    best_croston = overall.loc[
        ["CrostonOptimized_baseline", "TSB_baseline", "IMAPA_baseline"], "mase"
    ].idxmin()
    final = overall.loc["forecast"]
    promised = backtest_overall(backtest_report(model, train_sales)[1])
    inside: dict[str, Any] = {}
    for lv in cfg.levels:
        hit = (df["y"] >= df[f"forecast-lo-{lv}"]) & (df["y"] <= df[f"forecast-hi-{lv}"])
        inside[f"coverage_{lv}"] = _r(hit.mean())
        by_class = hit.groupby(df["unique_id"].map(classes).to_numpy()).mean()
        inside[f"coverage_{lv}_by_class"] = {str(k): _r(v) for k, v in by_class.items()}
    return {
        "dataset": name,
        "variant": variant.name,
        "calendar_features": list(model.calendar_.features) if model.calendar_ else [],
        "interval_scales": model.interval_scales_.round(4).to_dict(orient="records"),
        "n_series": int(df["unique_id"].nunique()),
        "train_end": str(split.date()),
        "horizon": h,
        "seconds_forecaster_fit_cv_predict": round(seconds_ours, 1),
        "seconds_forecaster_detail": model.timings_,
        "seconds_baselines": round(seconds_base, 1),
        "selection": {k: "+".join(v) for k, v in model.selection_.items()},
        "final": {k: _r(final[k]) for k in ("rmsse", "mase", "bias", "wrmsse", "scaled_pinball")},
        "backtest": None
        if promised is None
        else {k: _r(promised[k]) for k in ("rmsse", "mase", "wrmsse")},
        "backtest_vs_realized_pct": None
        if promised is None
        else {k: _r(100 * (promised[k] / final[k] - 1)) for k in ("rmsse", "mase")},
        "fallbacks": dict(model.fallbacks_),
        # every stand-in and shortened backtest the fit and the forecast warned of (the
        # forecast is of every candidate, so a stand-in may be for a model not selected)
        "warnings": said,
        "interval_coverage": inside,
        "best_baseline_rmsse": {"model": best_base, "rmsse": _r(overall.loc[best_base, "rmsse"])},
        "rmsse_vs_best_baseline_pct": _r(
            100 * (final["rmsse"] / overall.loc[best_base, "rmsse"] - 1)
        ),
        "rmsse_vs_autoets_pct": _r(
            100 * (final["rmsse"] / overall.loc["AutoETS_baseline", "rmsse"] - 1)
        ),
        "wrmsse_vs_autoets_pct": _r(
            100 * (final["wrmsse"] / overall.loc["AutoETS_baseline", "wrmsse"] - 1)
        ),
        "best_croston_family_mase": {
            "model": best_croston,
            "mase": _r(overall.loc[best_croston, "mase"]),
        },
        "mase_vs_best_croston_pct": _r(
            100 * (final["mase"] / overall.loc[best_croston, "mase"] - 1)
        ),
        "untuned_mlforecast_vs_autoets_pct": None
        if UNTUNED not in overall.index
        else {
            k: _r(100 * (overall.loc[UNTUNED, k] / overall.loc["AutoETS_baseline", k] - 1))
            for k in ("rmsse", "wrmsse")
        },
        "models": {
            m: {k: _r(overall.loc[m, k]) for k in ("rmsse", "mase", "bias", "wrmsse")}
            for m in overall.index
        },
        "by_class_rmsse": summary[summary["demand_class"] != "all"]
        .pivot(index="model", columns="demand_class", values="rmsse")
        .loc[["forecast", *baselines]]
        .round(4)
        .to_dict(orient="index"),
    }


def _r(v: Any) -> float:
    return round(float(v), 4)


#: The hyperparameter grid scored on the tuning windows (the first entry: the defaults).
GRID: tuple[dict[str, Any], ...] = (
    {},
    {"tweedie_variance_power": 1.5},
    {"lgb_num_leaves": 31},
    {"lgb_n_estimators": 500, "lgb_learning_rate": 0.05},
    {"use_lightgbm": False},
)

#: A trial must score better than a cheaper one by more than this share of the score to be
#: chosen over it: the trees' cost (training and the recursive prediction) is paid on every
#: run, a difference of a few tenths of a percent on the tuning windows is not.
TOLERANCE = 0.0025


def cost(cfg: DemandConfig) -> int:
    """What a configuration's LightGBM costs, in leaves grown: rounds times leaves (0
    without LightGBM)."""
    return cfg.lgb_n_estimators * cfg.lgb_num_leaves if cfg.use_lightgbm else 0


def choose(trials: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The cheapest trial (`cost`) scoring within `TOLERANCE` of the lowest score; among
    equally cheap ones, the lowest score."""
    best = min(t[metric] for t in trials)
    near = [t for t in trials if t[metric] <= best * (1 + TOLERANCE)]
    return min(near, key=lambda t: (t["cost"], t[metric]))


@dataclass(frozen=True)
class Variant:
    """What a variant knows in advance: a calendar, and whether the plan of prices of the
    days forecast is given (taken from the sales of those days, as M5 published them)."""

    name: str
    calendar: pd.DataFrame | None = None
    price_plan: bool = False

    def given(self, ahead: pd.DataFrame) -> dict[str, Any]:
        """``fit`` keywords for the days ``ahead`` (their sales rows)."""
        out: dict[str, Any] = {}
        if self.calendar is not None:
            out["calendar"] = self.calendar
        if self.price_plan and "price" in ahead.columns:
            out["future"] = ahead[["sku_id", "channel", "ds", "price"]].dropna()
        return out


SALES_ONLY = Variant("sales only")


def holdouts(
    only: str | None,
) -> Iterator[tuple[str, str, pd.DataFrame, pd.Timestamp, DemandConfig]]:
    """(key, name, sales, last training day, config) of the last reported period of each
    dataset: M5 subset d_1886..d_1913, car parts' last 6 months (`benchmarks.horizon` uses
    them too); ``only``: one of the keys."""
    for key, name, sales, splits, _, cfg, _ in protocols(only):
        yield key, name, sales, splits[-1], cfg


def protocols(
    only: str | None,
) -> Iterator[
    tuple[str, str, pd.DataFrame, list[pd.Timestamp], pd.Timestamp, DemandConfig, list[Variant]]
]:
    """(key, name, sales, the reported periods' last training days, the tuning data's last
    day, config, the variants) per dataset."""
    if only in (None, "m5"):
        folder = SHARED_DATA / "m5_tiny"
        sales, _ = load_m5(folder)
        day = sales.drop_duplicates("d").set_index("d")["ds"]
        splits = [day["d_1857"], day["d_1885"]]
        calendar = load_m5_calendar(folder, sales["channel"].unique())
        variants = [SALES_ONLY, Variant("calendar and price plan", calendar, price_plan=True)]
        cfg = DemandConfig(freq="D", horizon=28)
        yield "m5", "m5_tiny", sales, splits, day["d_1857"], cfg, variants
    if only in (None, "carparts"):
        sales = load_carparts(SHARED_DATA / "carparts" / "carparts_long.csv.gz")
        end = sales["ds"].max()
        splits = [end - pd.DateOffset(months=12), end - pd.DateOffset(months=6)]
        cfg = DemandConfig(freq="M", horizon=6, selection_metric="mase")
        yield "carparts", "carparts", sales, splits, splits[0], cfg, [SALES_ONLY]


def tune(
    key: str,
    sales: pd.DataFrame,
    until: pd.Timestamp,
    cfg: DemandConfig,
    variant: Variant,
    tracking_uri: str | None,
) -> dict[str, Any]:
    """Score every configuration of `GRID` by its own backtest on the data up to ``until``
    (the selection metric, mean over series) and `choose`. Each trial is an MLflow child run
    (its config as params, its backtest score, seconds and cost as metrics)."""
    from forecasting import tracking

    train = sales[sales["ds"] <= until]
    first_day_after = sales[sales["ds"] == sales.loc[sales["ds"] > until, "ds"].min()]
    trials: list[dict[str, Any]] = []
    parent_name = f"{key} ({variant.name}) until {until.date()}"
    with tracking.start_run(TUNING_EXPERIMENT, parent_name, tracking_uri=tracking_uri) as parent:
        for i, params in enumerate(GRID):
            start = time.perf_counter()
            trial_cfg = cfg.with_(**params)
            # a plan makes the backtest plan each window with its own prices; the plan itself
            # (prices of the first day after the tuning data, no sales) is not scored
            model = DemandForecaster(trial_cfg).fit(train, **variant.given(first_day_after))
            row = backtest_overall(backtest_report(model, train)[1])
            score = float("inf") if row is None else float(row[cfg.selection_metric])
            seconds = time.perf_counter() - start
            spent = cost(trial_cfg)
            with tracking.start_run(
                TUNING_EXPERIMENT, f"trial {i}", tracking_uri=tracking_uri, nested=True
            ):
                tracking.log_config(trial_cfg, "demand")
                tracking.log_params({"trial.changes": json.dumps(params) or "{}"})
                tracking.log_metrics(
                    {
                        f"backtest_{cfg.selection_metric}": score,
                        "seconds": seconds,
                        "cost": spent,
                    }
                )
            trials.append(
                {
                    "params": params,
                    cfg.selection_metric: _r(score),
                    "seconds": _r(seconds),
                    "cost": spent,
                }
            )
        best = choose(trials, cfg.selection_metric)
        tracking.log_params({"chosen": json.dumps(best["params"]) or "{}"})
        run_id = parent.info.run_id
    return {
        "until": str(until.date()),
        "metric": cfg.selection_metric,
        "mlflow_run": run_id,
        "trials": trials,
        "rule": f"the cheapest trial within {TOLERANCE:.2%} of the lowest {cfg.selection_metric}",
        "chosen": best["params"],
    }


TUNING_EXPERIMENT = "benchmarks-demand-tuning"

#: What `main` prints of each holdout's result.
SHOWN = {
    "m5": (
        "variant",
        "final",
        "rmsse_vs_autoets_pct",
        "wrmsse_vs_autoets_pct",
        "interval_coverage",
    ),
    "carparts": ("variant", "final", "mase_vs_best_croston_pct", "interval_coverage"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["m5", "carparts"])
    parser.add_argument("--tracking-uri", help="MLflow store of the tuning runs")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for key, name, sales, splits, until, cfg, variants in protocols(args.only):
        baselines_of: dict[pd.Timestamp, tuple[pd.DataFrame, float]] = {}
        results[key] = {}
        for variant in variants:
            tuning = tune(key, sales, until, cfg, variant, args.tracking_uri)
            chosen = cfg.with_(**tuning["chosen"])
            print(key, variant.name, "tuned on data up to", tuning["until"], "->", tuning["chosen"])
            periods = []
            for split in splits:
                end = split + (
                    pd.DateOffset(days=cfg.horizon)
                    if cfg.freq == "D"
                    else pd.DateOffset(months=cfg.horizon)
                )
                period = evaluate(
                    name, sales[sales["ds"] <= end], split, chosen, variant, baselines_of
                )
                print(" ", period["train_end"], *(period[field] for field in SHOWN[key]))
                periods.append(period)
            results[key][variant.name] = {"tuning": tuning, "reported": periods}
    results["peak_rss_mib"] = peak_rss_mib()
    path = write_result("demand" if args.only is None else f"demand_{args.only}", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
