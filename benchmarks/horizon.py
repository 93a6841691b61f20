"""Direct horizon LightGBM against the recursive one, on what the stocking decision uses:
each series' mean demand per period over the horizon.

* M5 subset (../shared/data/m5_tiny): train on d_1..d_1885, the 28 days after are the test.
* Car parts: the last 6 months are the test.

The forecaster is fitted as the predictor fits it (AutoETS excluded for scoring), then
``fit_horizon_model``; ``predict_horizon`` is timed with the direct model and without it
(the mean of the recursive forecasts). Metrics over series, on the horizon mean per period:
RMSSE per series (`forecasting.demand.metrics.series_metrics`: the error of the horizon
mean over the root of the series' one-step naive MSE on the training periods), its mean over
series, and WAPE and bias of the horizon totals.
Run: python -m benchmarks.horizon
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import pandas as pd

from benchmarks.common import peak_rss_mib, write_result
from benchmarks.demand import holdouts
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.metrics import naive_scales, series_metrics
from forecasting.periods import period_start

KEYS = ["sku_id", "channel"]


def evaluate(name: str, sales: pd.DataFrame, split: pd.Timestamp, cfg: DemandConfig) -> dict:
    train = sales[sales["ds"] <= split]
    test = sales[sales["ds"] > split]
    h = cfg.horizon
    start = time.perf_counter()
    model = DemandForecaster(cfg).fit(train)
    if any("AutoETS" in sel for sel in model.selection_.values()):
        model = model.without(("AutoETS",))
    seconds_fit = time.perf_counter() - start
    start = time.perf_counter()
    model.fit_horizon_model(train)
    seconds_fit_direct = time.perf_counter() - start
    recursive = model.copy()
    recursive.lgb_horizon_ = None
    out: dict[str, Any] = {
        "dataset": name,
        "horizon": h,
        "selection": {k: "+".join(v) for k, v in model.selection_.items()},
        "direct_model_fitted": model.lgb_horizon_ is not None,
        "seconds_fit_forecaster": round(seconds_fit, 1),
        "seconds_fit_direct_model": round(seconds_fit_direct, 1),
    }
    actual = test.groupby(KEYS)["y"].sum() / h
    per = train.assign(ds=period_start(train["ds"], cfg.freq))
    per = per.groupby([*KEYS, "ds"], as_index=False, observed=True)["y"].sum()
    scales = naive_scales(per.assign(unique_id=per["sku_id"] + "|" + per["channel"]))
    for label, m in (("direct", model), ("recursive", recursive)):
        start = time.perf_counter()
        fc = m.predict_horizon(train, h)
        seconds = time.perf_counter() - start
        got = fc.set_index(KEYS)["forecast"]
        df = pd.DataFrame({"forecast": got, "y": actual.reindex(got.index).fillna(0.0)})
        df["unique_id"] = [f"{s}|{c}" for s, c in df.index]
        df["ds"] = split
        metrics = series_metrics(df.reset_index(drop=True), None, ["forecast"], scales=scales)
        metrics = metrics.dropna(subset=["rmsse"])
        kept = df[df["unique_id"].isin(metrics["unique_id"])]
        err = kept["forecast"] - kept["y"]
        out[label] = {
            "seconds_predict_horizon": round(seconds, 2),
            "n_series": len(kept),
            "rmsse_horizon_mean": round(float(metrics["rmsse"].mean()), 4),
            "wape_total": round(float(err.abs().sum() / kept["y"].sum()), 4),
            "bias_total": round(float(err.sum() / kept["y"].sum()), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["m5", "carparts"])
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for key, name, sales, split, cfg in holdouts(args.only):
        results[key] = evaluate(name, sales, split, cfg)
        print(results[key])
    results["peak_rss_mib"] = peak_rss_mib()
    name = "horizon" if args.only is None else f"horizon_{args.only}"
    print(f"wrote {write_result(name, results)}")


if __name__ == "__main__":
    main()
