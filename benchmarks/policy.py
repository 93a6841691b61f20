"""Elastic-SKU predictor benchmark: decisions against the synthetic truth, and the policy
simulation (predictor vs all-unified) on the synthetic holdout and on UCI Online Retail.

Synthetic: ``generate_omnichannel(n_skus, n_days=365 + holdout, holdout_days=holdout)``;
the predictor is fitted on the history up to the inventory snapshot and the held-out days
after it are replayed. Online Retail: SKU x country daily sales from the cleaned
transactions; the predictor is fitted on the data before the last ``holdout`` days and
those days are replayed; there is no stock data, so each policy starts at its own
order-up-to levels; its calendar is England's bank holidays for the UK channel
(`benchmarks.calendars`). Each also gives the same fitted predictor's decisions and simulation
when LightGBM's part comes from the mean of its recursive forecasts rather than the direct
horizon model (``direct_vs_recursive_horizon``). Run: python -m benchmarks.policy
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import holidays
import numpy as np
import pandas as pd

from benchmarks.calendars import ONLINE_RETAIL_HOME, online_retail_calendar
from benchmarks.common import SHARED_DATA, peak_rss_mib, write_result
from forecasting.data.adapters import load_online_retail
from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.synthetic import CONFOUNDED_MIX, generate_omnichannel
from forecasting.demand.config import LOCAL_MODELS, DemandConfig
from forecasting.policy.decide import with_stock
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig, simulate_predictor

TARGETS = {
    "consumables_unified_min": 0.95,
    "rare_goods_tiered_min": 0.95,
    "slow_mover_precision_min": 0.9,
    "slow_mover_recall_min": 0.9,
    "sim_slow_mover_share_max": 0.05,
    "sim_turnover_days_change_max": -0.40,
    "sim_fill_rate_diff_min": 0.0,
    # issue #17, on the confounded world: every archetype, and consumables out of stock
    "confounded_slow_mover_right_min": 0.95,
    "confounded_stockouts_unified_min": 0.95,
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


def fitted_to_snapshot(world: Any) -> tuple[pd.Timestamp, pd.DataFrame, Any, float]:
    """(snapshot day, sales up to it, the predictor fitted on what was known then, seconds)."""
    assert world.transactions is not None
    snapshot = world.inventory["ds"].max()
    history = world.sales[world.sales["ds"] <= snapshot]
    tx = world.transactions[world.transactions["ts"] < snapshot + pd.Timedelta(days=1)]
    start = time.perf_counter()
    predictor = ElasticSkuPredictor(_config(28)).fit(tx, history, world.skus)
    return snapshot, history, predictor, time.perf_counter() - start


def synthetic(n_skus: int, holdout: int, seed: int) -> dict[str, Any]:
    world = generate_omnichannel(
        n_skus=n_skus, n_days=365 + holdout, seed=seed, holdout_days=holdout
    )
    _, _, predictor, seconds_fit = fitted_to_snapshot(world)
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
        "per_archetype": per_archetype(decisions, world.truth),
        "seconds_fit": round(seconds_fit, 1),
        "seconds_simulate": round(seconds_simulate, 1),
        "direct_vs_recursive_horizon": direct_vs_recursive(
            predictor, decisions, result, world.sales, world.inventory, holdout
        ),
    }


def per_archetype(
    decisions: pd.DataFrame, truth: pd.DataFrame, actual: pd.Series | None = None
) -> dict[str, dict[str, Any]]:
    """Per archetype: SKUs, share whose slow-mover flag is right, share stocked as intended
    (where the truth says), share whose hold reason is right, mean stockout share, and with
    ``actual`` (units per SKU over the horizon after the decision) the forecast's bias."""
    got = decisions.merge(truth, on="sku_id", suffixes=("", "_truth"))
    if actual is not None:
        got["actual_units"] = got["sku_id"].map(actual).fillna(0.0)
    if "hold_reason_truth" not in got.columns:
        got["hold_reason_truth"] = ""
    out: dict[str, dict[str, Any]] = {}
    for name, rows in got.groupby("archetype"):
        judged = rows[rows["stocking_truth"] != ""]
        out[str(name)] = {
            "skus": len(rows),
            "slow_mover_right": round(
                float((rows["slow_mover"] == rows["slow_mover_truth"]).mean()), 4
            ),
            "stocking_right": round(
                float((judged["stocking"] == judged["stocking_truth"]).mean()), 4
            )
            if len(judged)
            else None,
            "hold_reason_right": round(
                float((rows["hold_reason"].fillna("") == rows["hold_reason_truth"]).mean()), 4
            ),
            "mean_stockout_share": round(float(rows["stockout_share"].mean()), 4),
        }
        if actual is not None and rows["actual_units"].sum() > 0:
            bias = rows["forecast_units"].sum() / rows["actual_units"].sum() - 1
            out[str(name)]["forecast_bias_vs_holdout"] = round(float(bias), 4)
    return out


def confounded(n_skus: int, holdout: int, seed: int) -> dict[str, Any]:
    """The clean archetypes mixed with stockouts, seasons and launches (`CONFOUNDED_MIX`),
    two years of daily history with a daily on_hand column, the same predictor. Also the
    same fitted predictor deciding without what issue #17 added (``rules_off``: no on_hand
    column, season rule and launch grace off), to show what the confounders did."""
    world = generate_omnichannel(
        n_skus=n_skus, n_days=730 + holdout, seed=seed, holdout_days=holdout, mix=CONFOUNDED_MIX
    )
    snapshot, history, predictor, seconds_fit = fitted_to_snapshot(world)
    result, decisions = simulate_predictor(predictor, world.sales, world.inventory, holdout)
    after = world.sales[
        (world.sales["ds"] > snapshot) & (world.sales["ds"] <= snapshot + pd.Timedelta(days=28))
    ]
    actual = after.groupby("sku_id")["y"].sum()  # in stock after the snapshot: demand
    table = per_archetype(decisions, world.truth, actual)
    blind = predictor.with_policy(season_ratio=float("inf"), launch_grace_weeks=0.0)
    off = blind.predict(with_stock(history.drop(columns="on_hand"), world.inventory))
    table_off = per_archetype(off, world.truth, actual)
    sim = _simulation_figures(result)
    clean = ("consumable", "erratic", "durable", "custom", "dying")
    worst = min(v["slow_mover_right"] for v in table.values())
    met = {
        "every_archetype_slow_mover_right": worst >= TARGETS["confounded_slow_mover_right_min"],
        "stockout_consumables_unified": min(
            table[a]["stocking_right"] or 0.0 for a in ("stockouts", "restocked")
        )
        >= TARGETS["confounded_stockouts_unified_min"],
        "sim_fill_rate_not_lower": sim["change"]["fill_rate_diff"]
        >= TARGETS["sim_fill_rate_diff_min"],
    }
    return {
        "setup": {
            "n_skus": n_skus,
            "mix": dict(CONFOUNDED_MIX),
            "history_days": 730,
            "holdout_days": holdout,
            "seed": seed,
            "stock": "a daily on_hand column in the sales (0 on out-of-stock days)",
        },
        "per_archetype": table,
        "per_archetype_rules_off": table_off,
        "clean_archetypes": {a: table[a] for a in clean if a in table},
        "targets_met": met,
        "simulation": sim,
        "seconds_fit": round(seconds_fit, 1),
    }


def m5_zero_runs(min_run: int = 14, min_sale_share: float = 0.8) -> dict[str, Any]:
    """Stockout-like zero runs on M5 (no stock data there): in series that sold on at least
    ``min_sale_share`` of the days of the year before, runs of ``min_run`` or more days
    without a sale. Each run is judged on its last day, holding four weeks of the series'
    earlier demand in stock, by the rules as they read the sales alone (the run is zero
    demand) and with the run marked out of stock (``on_hand`` 0), as a retailer with stock
    data would give it."""
    from forecasting.data.adapters import load_m5
    from forecasting.policy.config import PolicyConfig
    from forecasting.policy.slow_movers import flag_slow_movers

    sales, _ = load_m5(SHARED_DATA / "m5_tiny")
    cases = {"zero_demand": [], "out_of_stock": []}  # type: dict[str, list[str]]
    n_series = 0
    for (sku, store), one in sales.groupby(["sku_id", "channel"], observed=True):
        y = one["y"].to_numpy()
        zero = np.r_[y == 0, False]
        edges = np.flatnonzero(np.diff(np.r_[False, zero].astype(int)))
        starts, ends = edges[::2], edges[1::2]  # runs of zeros: [start, end)
        n_series += 1
        for a, b in zip(starts, ends, strict=True):
            if b - a < min_run or a < 365:
                continue
            before = y[a - 365 : a]
            if (before > 0).mean() < min_sale_share:
                continue
            upto = one.iloc[:b].assign(sku_id=f"{sku}|{store}")
            weekly = pd.Series({f"{sku}|{store}": before[-28:].mean() * 7})
            stock = pd.DataFrame({"sku_id": weekly.index, "on_hand": weekly.to_numpy() * 4})
            for name, frame in (
                ("zero_demand", upto),
                ("out_of_stock", upto.assign(on_hand=np.where(np.arange(b) >= a, 0.0, 10.0))),
            ):
                flags = flag_slow_movers(frame, stock, weekly, PolicyConfig()).iloc[0]
                cases[name].append(flags["slow_mover_reason"])
    n = len(cases["zero_demand"])

    def tally(reasons: list[str]) -> dict[str, Any]:
        return {
            "flagged_share": round(sum(r != "" for r in reasons) / max(n, 1), 4),
            "reasons": pd.Series([r for r in reasons if r]).value_counts().to_dict(),
        }

    return {
        "data": f"m5_tiny, {n_series} item x store series",
        "runs": n,
        "definition": f"runs of >= {min_run} zero days in series that sold on >= "
        f"{min_sale_share:.0%} of the 365 days before",
        "as_zero_demand": tally(cases["zero_demand"]),
        "marked_out_of_stock": tally(cases["out_of_stock"]),
    }


def online_retail(holdout: int) -> dict[str, Any]:
    tx = load_online_retail(SHARED_DATA / "online_retail")
    sales = transactions_to_sales(tx, "D")
    end = sales["ds"].max()
    cut = end - pd.Timedelta(days=holdout - 1)
    calendar = online_retail_calendar(sales["ds"].min(), end + pd.Timedelta(days=60))
    start = time.perf_counter()
    predictor = ElasticSkuPredictor(_config(28)).fit(
        tx[tx["ts"] < cut], sales[sales["ds"] < cut], calendar=calendar
    )
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
            "calendar": f"England's bank holidays for {ONLINE_RETAIL_HOME} (python-holidays "
            f"{holidays.__version__}, benchmarks/calendars.py), none for other countries; "
            f"{int(calendar['bank_holiday'].notna().sum())} holidays in "
            f"{calendar['ds'].min().date()}..{calendar['ds'].max().date()}",
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
    parser.add_argument("--skip-confounded", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "targets": TARGETS,
        "synthetic": synthetic(args.n_skus, args.holdout, args.seed),
    }
    result["m5_zero_runs"] = m5_zero_runs()
    print(result["m5_zero_runs"])
    if not args.skip_confounded:
        result["confounded"] = confounded(args.n_skus, args.holdout, args.seed)
        print(result["confounded"]["per_archetype"], result["confounded"]["targets_met"])
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
