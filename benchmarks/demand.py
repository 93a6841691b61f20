"""Demand benchmark: the DemandForecaster against plain statsforecast baselines.

* M5 subset (../shared/data/m5_tiny): train on d_1..d_1885, test on d_1886..d_1913 (28 days).
* Car parts: hold out the last 6 months.

Every candidate model's test metrics, the final forecast's, and the baselines' (AutoETS,
SeasonalNaive, CrostonOptimized, TSB(0.1, 0.1), IMAPA, run in the same process on the same
panel), with wall times. Run: python -m benchmarks.demand [--only m5|carparts]
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
        "interval_coverage": inside,
        "best_baseline_rmsse": {"model": best_base, "rmsse": _r(overall.loc[best_base, "rmsse"])},
        "rmsse_vs_best_baseline_pct": _r(
            100 * (final["rmsse"] / overall.loc[best_base, "rmsse"] - 1)
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


def holdouts(
    only: str | None,
) -> Iterator[tuple[str, str, pd.DataFrame, pd.Timestamp, DemandConfig]]:
    """(key, name, sales, last training day, config) of the real-data holdouts the demand
    benchmarks share: the M5 subset up to d_1885 (28 test days), car parts but the last 6
    months; ``only``: one of the keys."""
    if only in (None, "m5"):
        sales, _ = load_m5(SHARED_DATA / "m5_tiny")
        split = sales.loc[sales["d"] == "d_1885", "ds"].iloc[0]
        yield "m5", "m5_tiny", sales, split, DemandConfig(freq="D", horizon=28)
    if only in (None, "carparts"):
        sales = load_carparts(SHARED_DATA / "carparts" / "carparts_long.csv.gz")
        split = sales["ds"].max() - pd.DateOffset(months=6)
        cfg = DemandConfig(freq="M", horizon=6, selection_metric="mase")
        yield "carparts", "carparts", sales, split, cfg


#: What `main` prints of each holdout's result.
SHOWN = {
    "m5": ("final", "best_baseline_rmsse", "rmsse_vs_best_baseline_pct"),
    "carparts": ("final", "best_croston_family_mase"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["m5", "carparts"])
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for key, name, sales, split, cfg in holdouts(args.only):
        results[key] = evaluate(name, sales, split, cfg)
        print(*(results[key][field] for field in SHOWN[key]))
    results["peak_rss_mib"] = peak_rss_mib()
    path = write_result("demand" if args.only is None else f"demand_{args.only}", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
