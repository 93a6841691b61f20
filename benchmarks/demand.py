"""Demand benchmark: the DemandForecaster against plain statsforecast baselines, tuned on
earlier windows and reported on periods nothing was tuned on.

* M5 subset (../shared/data/m5_tiny), 28 days: the hyperparameter grid is scored by each
  candidate configuration's own rolling-origin backtest on d_1..d_1857 (windows ending
  d_1857); the chosen configuration is then reported on d_1858..d_1885 (trained on
  d_1..d_1857) and d_1886..d_1913 (trained on d_1..d_1885).
* Car parts, 6 months: tuned on the data up to 12 months before the end; reported on the 6
  months after that and on the last 6 months.

For each reported period: every candidate model's realized metrics, the final forecast's,
the backtest's promise from the same fit beside them (``backtest_vs_realized_pct``), and
the baselines' (AutoETS, SeasonalNaive, CrostonOptimized, TSB(0.1, 0.1), IMAPA, run in the
same process on the same panel), with wall times.
Run: python -m benchmarks.demand [--only m5|carparts]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd

from benchmarks.common import SHARED_DATA, peak_rss_mib, write_result
from forecasting.data.adapters import load_carparts, load_m5
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.metrics import series_metrics, summarize
from forecasting.demand.panel import prepare_panel
from forecasting.demand.report import backtest_report
from forecasting.demand.report import overall as backtest_overall

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


def evaluate(
    name: str, sales: pd.DataFrame, split: pd.Timestamp, cfg: DemandConfig
) -> dict[str, Any]:
    train_sales = sales[sales["ds"] <= split]
    test_sales = sales[sales["ds"] > split]
    h = cfg.horizon
    start = time.perf_counter()
    model = DemandForecaster(cfg).fit(train_sales)
    fc = model.forecast(all_models=True)
    seconds_ours = time.perf_counter() - start
    panel, keys, _ = prepare_panel(train_sales, cfg)
    base, seconds_base = run_baselines(panel, cfg, h)
    base = base.merge(keys, on="unique_id")
    df = (
        test_sales[["sku_id", "channel", "ds", "y"]]
        .merge(fc, on=["sku_id", "channel", "ds"], how="inner")
        .merge(base.drop(columns="unique_id"), on=["sku_id", "channel", "ds"], how="inner")
    )
    df = df.merge(keys, on=["sku_id", "channel"])
    ours = ["forecast", *[c for c in model.candidates_ if c in df.columns]]
    baselines = [f"{m}_baseline" for m in BASELINES]
    qmap = {"forecast": {q: f"forecast-{n}" for n, q in cfg.quantiles.items()}}
    per_series = series_metrics(df, panel, [*ours, *baselines], qmap)
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
    inside = {
        n: float(
            ((df["y"] >= df[f"forecast-lo-{lv}"]) & (df["y"] <= df[f"forecast-hi-{lv}"])).mean()
        )
        for n, lv in [(f"coverage_{lv}", lv) for lv in cfg.levels]
    }
    return {
        "dataset": name,
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
    {"tweedie_variance_power": 1.1},
    {"lgb_num_leaves": 31},
    {"lgb_n_estimators": 300, "lgb_learning_rate": 0.08},
    {"use_lightgbm": False},
)


def holdouts(
    only: str | None,
) -> Iterator[tuple[str, str, pd.DataFrame, pd.Timestamp, DemandConfig]]:
    """(key, name, sales, last training day, config) of the last reported period of each
    dataset: M5 subset d_1886..d_1913, car parts' last 6 months (`benchmarks.horizon` uses
    them too); ``only``: one of the keys."""
    for key, name, sales, splits, _, cfg in protocols(only):
        yield key, name, sales, splits[-1], cfg


def protocols(
    only: str | None,
) -> Iterator[tuple[str, str, pd.DataFrame, list[pd.Timestamp], pd.Timestamp, DemandConfig]]:
    """(key, name, sales, the reported periods' last training days, the tuning data's last
    day, config) per dataset."""
    if only in (None, "m5"):
        sales, _ = load_m5(SHARED_DATA / "m5_tiny")
        day = sales.drop_duplicates("d").set_index("d")["ds"]
        splits = [day["d_1857"], day["d_1885"]]
        yield "m5", "m5_tiny", sales, splits, day["d_1857"], DemandConfig(freq="D", horizon=28)
    if only in (None, "carparts"):
        sales = load_carparts(SHARED_DATA / "carparts" / "carparts_long.csv.gz")
        end = sales["ds"].max()
        splits = [end - pd.DateOffset(months=12), end - pd.DateOffset(months=6)]
        cfg = DemandConfig(freq="M", horizon=6, selection_metric="mase")
        yield "carparts", "carparts", sales, splits, splits[0], cfg


def tune(sales: pd.DataFrame, until: pd.Timestamp, cfg: DemandConfig) -> dict[str, Any]:
    """Score every configuration of `GRID` by its own backtest on the data up to ``until``
    (the selection metric, mean over series); the lowest wins."""
    train = sales[sales["ds"] <= until]
    trials = []
    for params in GRID:
        start = time.perf_counter()
        model = DemandForecaster(cfg.with_(**params)).fit(train)
        row = backtest_overall(backtest_report(model, train)[1])
        score = float("inf") if row is None else float(row[cfg.selection_metric])
        trials.append(
            {
                "params": params,
                cfg.selection_metric: _r(score),
                "seconds": _r(time.perf_counter() - start),
            }
        )
    best = min(trials, key=lambda t: t[cfg.selection_metric])
    return {
        "until": str(until.date()),
        "metric": cfg.selection_metric,
        "trials": trials,
        "chosen": best["params"],
    }


#: What `main` prints of each holdout's result.
SHOWN = {
    "m5": ("final", "backtest", "best_baseline_rmsse", "rmsse_vs_autoets_pct"),
    "carparts": ("final", "backtest", "best_croston_family_mase"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["m5", "carparts"])
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for key, name, sales, splits, until, cfg in protocols(args.only):
        tuning = tune(sales, until, cfg)
        chosen = cfg.with_(**tuning["chosen"])
        print(key, "tuned on data up to", tuning["until"], "->", tuning["chosen"])
        periods = []
        for split in splits:
            end = split + (
                pd.DateOffset(days=cfg.horizon)
                if cfg.freq == "D"
                else pd.DateOffset(months=cfg.horizon)
            )
            period = evaluate(name, sales[sales["ds"] <= end], split, chosen)
            print(" ", period["train_end"], *(period[field] for field in SHOWN[key]))
            periods.append(period)
        results[key] = {"tuning": tuning, "reported": periods}
    results["peak_rss_mib"] = peak_rss_mib()
    path = write_result("demand" if args.only is None else f"demand_{args.only}", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
