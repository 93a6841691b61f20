"""Elastic-SKU predictor benchmark: decisions against the synthetic truth, and the policy
simulation (predictor vs all-unified) on the synthetic holdout and on UCI Online Retail.

Synthetic: ``generate_omnichannel(n_skus, n_days=365 + holdout, holdout_days=holdout)``;
the predictor is fitted on the history up to the inventory snapshot and the held-out days
after it are replayed. Online Retail: SKU x country daily sales from the cleaned
transactions; the predictor is fitted on the data before the last ``holdout`` days and
those days are replayed; there is no stock data, so each policy starts at its own
order-up-to levels. Each also gives the same fitted predictor's decisions and simulation
when LightGBM's part comes from the mean of its recursive forecasts rather than the direct
horizon model (``direct_vs_recursive_horizon``). Run: python -m benchmarks.policy
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import pandas as pd

from benchmarks.common import SHARED_DATA, peak_rss_mib, write_result
from forecasting.data.adapters import load_online_retail
from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.synthetic import generate_omnichannel
from forecasting.demand.config import LOCAL_MODELS, DemandConfig
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig, simulate_predictor

TARGETS = {
    "consumables_unified_min": 0.95,
    "rare_goods_tiered_min": 0.95,
    "slow_mover_precision_min": 0.9,
    "slow_mover_recall_min": 0.9,
    "sim_slow_mover_share_max": 0.05,
    "sim_turnover_days_change_max": -0.40,
    "sim_fill_rate_diff_min": 0.0,
}


def _config(horizon: int) -> PredictorConfig:
    # AutoETS is excluded at scoring time anyway (PredictorConfig.scoring_exclude)
    local = tuple(m for m in LOCAL_MODELS if m != "AutoETS")
    return PredictorConfig(demand=DemandConfig(horizon=horizon, local_models=local))


def _simulation_figures(result: Any) -> dict[str, Any]:
    s = result.summary.set_index("policy")
    out: dict[str, Any] = {
        policy: {k: round(float(v), 6) for k, v in s.loc[policy].items()} for policy in s.index
    }
    out["change"] = {k: round(v, 6) for k, v in result.improvement().items()}
    return out


def recursive_twin(predictor: ElasticSkuPredictor) -> ElasticSkuPredictor:
    """The same fitted predictor deciding from the mean of LightGBM's recursive forecasts
    instead of its direct horizon model."""
    twin = copy.copy(predictor)
    twin.demand_ = copy.copy(predictor.demand_)
    twin.demand_.lgb_horizon_ = None
    return twin


def direct_vs_recursive(
    predictor: ElasticSkuPredictor,
    decisions: pd.DataFrame,
    result: Any,
    sales: pd.DataFrame,
    inventory: pd.DataFrame | None,
    holdout: int,
) -> dict[str, Any]:
    """The simulation and decisions of `recursive_twin` beside the direct model's."""
    start = time.perf_counter()
    other, other_decisions = simulate_predictor(
        recursive_twin(predictor), sales, inventory, holdout
    )
    seconds = time.perf_counter() - start
    both = decisions.merge(other_decisions, on="sku_id", suffixes=("", "_recursive"))
    return {
        "direct_model_fitted": predictor.demand_.lgb_horizon_ is not None,
        "same_stocking_share": round(
            float((both["stocking"] == both["stocking_recursive"]).mean()), 4
        ),
        "same_slow_mover_share": round(
            float((both["slow_mover"] == both["slow_mover_recursive"]).mean()), 4
        ),
        "forecast_units_ratio_direct_over_recursive": round(
            float(both["forecast_units"].sum() / both["forecast_units_recursive"].sum()), 4
        ),
        "simulation_direct": _simulation_figures(result),
        "simulation_recursive": _simulation_figures(other),
        "seconds_simulate_recursive": round(seconds, 1),
    }


def synthetic(n_skus: int, holdout: int, seed: int) -> dict[str, Any]:
    world = generate_omnichannel(
        n_skus=n_skus, n_days=365 + holdout, seed=seed, holdout_days=holdout
    )
    assert world.transactions is not None
    snapshot = world.inventory["ds"].max()
    history = world.sales[world.sales["ds"] <= snapshot]
    tx = world.transactions[world.transactions["ts"] < snapshot + pd.Timedelta(days=1)]
    start = time.perf_counter()
    predictor = ElasticSkuPredictor(_config(28)).fit(tx, history, world.skus)
    seconds_fit = time.perf_counter() - start
    start = time.perf_counter()
    result, decisions = simulate_predictor(predictor, world.sales, world.inventory, holdout)
    seconds_simulate = time.perf_counter() - start
    got = decisions.merge(world.truth, on="sku_id", suffixes=("", "_truth"))

    def share(archetypes: tuple[str, ...], expected: str) -> float:
        rows = got[got["archetype"].isin(archetypes)]
        return round(float((rows["stocking"] == expected).mean()), 4)

    hit = float((got["slow_mover"] & got["slow_mover_truth"]).sum())
    by_archetype = (
        result.per_sku.merge(world.truth[["sku_id", "archetype"]], on="sku_id")
        .groupby(["policy", "archetype"])["slow_mover_end"]
        .mean()
        .round(4)
        .unstack(0)
        .to_dict()
    )
    sim = _simulation_figures(result)
    change = sim["change"]
    figures = {
        "consumables_unified": share(("consumable",), "unified"),
        "rare_goods_tiered": share(("durable", "custom"), "tiered"),
        "slow_mover_precision": round(hit / max(float(got["slow_mover"].sum()), 1.0), 4),
        "slow_mover_recall": round(hit / max(float(got["slow_mover_truth"].sum()), 1.0), 4),
        "sim_slow_mover_share": change["slow_mover_share_predictor"],
        "sim_turnover_days_change": change["turnover_days_change"],
        "sim_fill_rate_diff": change["fill_rate_diff"],
    }
    met = {
        "consumables_unified": figures["consumables_unified"] >= TARGETS["consumables_unified_min"],
        "rare_goods_tiered": figures["rare_goods_tiered"] >= TARGETS["rare_goods_tiered_min"],
        "slow_mover_precision": figures["slow_mover_precision"]
        >= TARGETS["slow_mover_precision_min"],
        "slow_mover_recall": figures["slow_mover_recall"] >= TARGETS["slow_mover_recall_min"],
        "sim_slow_mover_share": figures["sim_slow_mover_share"]
        <= TARGETS["sim_slow_mover_share_max"],
        "sim_turnover_days_change": figures["sim_turnover_days_change"]
        <= TARGETS["sim_turnover_days_change_max"],
        "sim_fill_rate_not_lower": figures["sim_fill_rate_diff"]
        >= TARGETS["sim_fill_rate_diff_min"],
    }
    return {
        "setup": {
            "n_skus": n_skus,
            "n_series": int(world.sales.groupby(["sku_id", "channel"]).ngroups),
            "history_days": 365,
            "holdout_days": holdout,
            "seed": seed,
        },
        "figures": figures,
        "targets_met": met,
        "simulation": sim,
        "slow_mover_share_end_by_archetype": by_archetype,
        "seconds_fit": round(seconds_fit, 1),
        "seconds_simulate": round(seconds_simulate, 1),
        "direct_vs_recursive_horizon": direct_vs_recursive(
            predictor, decisions, result, world.sales, world.inventory, holdout
        ),
    }


def online_retail(holdout: int) -> dict[str, Any]:
    tx = load_online_retail(SHARED_DATA / "online_retail")
    sales = transactions_to_sales(tx, "D")
    end = sales["ds"].max()
    cut = end - pd.Timedelta(days=holdout - 1)
    start = time.perf_counter()
    predictor = ElasticSkuPredictor(_config(28)).fit(tx[tx["ts"] < cut], sales[sales["ds"] < cut])
    seconds_fit = time.perf_counter() - start
    start = time.perf_counter()
    result, decisions = simulate_predictor(predictor, sales, None, holdout)
    seconds_simulate = time.perf_counter() - start
    return {
        "setup": {
            "data": "UCI Online Retail, cleaned; SKU x country daily sales",
            "n_skus": int(sales["sku_id"].nunique()),
            "n_series": int(sales.groupby(["sku_id", "channel"]).ngroups),
            "holdout_days": holdout,
            "replay_from": str(cut.date()),
            "start_stock": "each policy's own order-up-to levels (no stock data)",
        },
        "decisions": {
            "share_tiered": round(float((decisions["stocking"] == "tiered").mean()), 4),
            "share_slow_movers": round(float(decisions["slow_mover"].mean()), 4),
        },
        "simulation": _simulation_figures(result),
        "seconds_fit": round(seconds_fit, 1),
        "seconds_simulate": round(seconds_simulate, 1),
        "direct_vs_recursive_horizon": direct_vs_recursive(
            predictor, decisions, result, sales, None, holdout
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-skus", type=int, default=1000)
    parser.add_argument("--holdout", type=int, default=28)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-online-retail", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "targets": TARGETS,
        "synthetic": synthetic(args.n_skus, args.holdout, args.seed),
    }
    if not args.skip_online_retail:
        result["online_retail"] = online_retail(args.holdout)
    result["peak_rss_mib"] = peak_rss_mib()
    path = write_result("policy", result)
    print(path)
    print(result["synthetic"]["figures"], result["synthetic"]["targets_met"])
    if "online_retail" in result:
        print(result["online_retail"]["simulation"]["change"])


if __name__ == "__main__":
    main()
