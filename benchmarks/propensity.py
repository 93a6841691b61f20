"""Propensity benchmark on UCI Online Retail (customer_id x SKU, channel = country).

Set-up: the model is fitted with history up to the scoring cutoff 2011-09-01; its training
cutoffs end 90 days earlier (the latest, 2011-06-03, is the held-out calibration fold), so
no label looks past 2011-09-01. Every customer with a purchase up to 2011-09-01 is scored
for a purchase in the 90 days after it and compared with what happened, against plain
BG/NBD fitted at the same cutoff. Run: python -m benchmarks.propensity
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import pandas as pd

from benchmarks.common import SHARED_DATA, peak_rss_mib, write_result
from forecasting.data.adapters import load_online_retail
from forecasting.propensity.bgnbd import BGNBD, rfm_summary
from forecasting.propensity.features import repurchase_labels
from forecasting.propensity.metrics import paired_bootstrap_auc, score_metrics
from forecasting.propensity.model import PropensityConfig, PropensityModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    tx = load_online_retail(SHARED_DATA / "online_retail")
    cutoff = pd.Timestamp(args.cutoff)
    cfg = PropensityConfig(horizon_days=args.horizon_days)
    start = time.perf_counter()
    model = PropensityModel(cfg).fit(tx, cutoff)
    scores = model.predict(tx, cutoff)
    seconds_model = time.perf_counter() - start
    start = time.perf_counter()
    rfm = rfm_summary(tx, cutoff).reindex(scores["customer_id"])
    arrays = (rfm["x"].to_numpy(), rfm["t_x"].to_numpy(), rfm["T"].to_numpy())
    plain = BGNBD().fit(*arrays).p_any_purchase(args.horizon_days, *arrays)
    seconds_bgnbd = time.perf_counter() - start
    y = repurchase_labels(tx, cutoff, args.horizon_days).reindex(scores["customer_id"]).fillna(0)
    y = y.to_numpy().astype(int)
    result: dict[str, Any] = {
        "setup": {
            "data": "UCI Online Retail 2009-12..2011-12, cleaned (forecasting.data.adapters)",
            "cutoff": str(cutoff.date()),
            "horizon_days": args.horizon_days,
            "train_cutoffs": model.train_cutoffs_,
            "calibration_cutoff": model.holdout_cutoff_,
            "n_customers_scored": len(scores),
            "strategy": model.strategy_,
            "season_shift_logodds": round(float(getattr(model, "season_shift_", 0.0)), 4),
        },
        "seconds_model_fit_and_score": round(seconds_model, 1),
        "seconds_bgnbd": round(seconds_bgnbd, 1),
        "final": score_metrics(y, scores["score"].to_numpy()),
        "model_alone": score_metrics(y, scores["score_model"].to_numpy())
        if scores["score_model"].notna().all()
        else None,
        "bgnbd_season_shifted": score_metrics(y, scores["score_bgnbd"].to_numpy()),
        "bgnbd_plain": score_metrics(y, plain),
        "auc_final_minus_bgnbd": paired_bootstrap_auc(
            y, scores["score"].to_numpy(), plain, n_boot=args.n_boot
        ),
        "holdout_choice": model.evaluation_,
    }
    final, base = result["final"], result["bgnbd_plain"]
    result["targets"] = {
        "auc_gain_at_least_0.01": result["auc_final_minus_bgnbd"]["diff"] >= 0.01,
        "auc_gain_ci_above_zero": result["auc_final_minus_bgnbd"]["ci95"][0] > 0,
        "brier_no_worse": final["brier"] <= base["brier"],
        "expected_within_5pct": abs(final["expected_vs_actual_pct"]) <= 5,
    }
    result["peak_rss_mib"] = peak_rss_mib()
    path = write_result("propensity", result)
    print(path.read_text())


if __name__ == "__main__":
    main()
