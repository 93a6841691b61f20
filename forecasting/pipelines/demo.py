"""`forecasting demo`: the whole job end to end on built-in synthetic data.

Generate an omnichannel world, write it in the contracts and read it back through the
loaders; train the demand forecaster and the repurchase-propensity model (a tracked run and
a registered model each); build and register the elastic-SKU predictor, promoted through
the gate (the first build on a store becomes ``champion``); score the data with the
registered version into a decisions file; compare the decisions with the generator's
truth; replay the held-out weeks under its decisions and under an all-unified baseline
(`forecasting simulate`); log a summary run.

The generator runs ``n_days`` of history plus ``horizon`` held-out days after the inventory
snapshot: training sees the history only, the simulation replays the held-out days.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS
from forecasting.data.io import read_table, write_table
from forecasting.data.synthetic import SyntheticConfig, generate_omnichannel
from forecasting.demand.classification import classify_demand
from forecasting.demand.config import LOCAL_MODELS, DemandConfig
from forecasting.demand.plots import adi_cv2_scatter
from forecasting.pipelines.demand import train_demand
from forecasting.pipelines.predictor import build_predictor
from forecasting.pipelines.propensity import train_propensity
from forecasting.pipelines.simulation import run_simulation
from forecasting.policy.config import PolicyConfig
from forecasting.policy.decide import with_stock
from forecasting.predictor import PredictorConfig
from forecasting.propensity.model import PropensityConfig
from forecasting.serving import load_pyfunc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo generates and where it writes."""

    n_skus: int = 400  # about 3 minutes on 2 cores (benchmarks/results/demo.json)
    n_days: int = 365  # history; the horizon's held-out days come on top
    horizon: int = 28
    repurchase_days: int = 60
    seed: int = 0
    output_dir: str = "demo_output"
    # the stocking policy (its horizon_days is the demo's horizon); `--policy FILE`
    policy: PolicyConfig = field(default_factory=PolicyConfig)


def run_demo(config: DemoConfig | None = None, tracking_uri: str | None = None) -> dict[str, Any]:
    """Run the demo and return its summary (also logged to MLflow)."""
    cfg = config or DemoConfig()
    started = time.perf_counter()
    out = Path(cfg.output_dir)
    data = generate_omnichannel(
        SyntheticConfig(
            n_skus=cfg.n_skus,
            n_days=cfg.n_days + cfg.horizon,
            seed=cfg.seed,
            holdout_days=cfg.horizon,
        )
    )
    assert data.transactions is not None
    files = {
        "sales": (data.sales, SALES),
        "transactions": (data.transactions, TRANSACTIONS),
        "inventory": (data.inventory, INVENTORY),
        "skus": (data.skus, SKUS),
    }
    loaded = {}
    for name, (df, contract) in files.items():
        path = write_table(df, out / "data" / f"{name}.parquet")
        loaded[name] = read_table(path, contract)
    write_table(data.truth, out / "data" / "truth.parquet")
    # training sees the history up to the inventory snapshot; the rest is for the simulation
    snapshot = loaded["inventory"]["ds"].max()
    history = {
        "sales": loaded["sales"][loaded["sales"]["ds"] <= snapshot].reset_index(drop=True),
        "transactions": loaded["transactions"][
            loaded["transactions"]["ts"] < snapshot + pd.Timedelta(days=1)
        ].reset_index(drop=True),
        "inventory": loaded["inventory"],
        "skus": loaded["skus"],
    }
    weekly = transactions_to_sales(history["transactions"], "W")
    series_classes = classify_demand(history["sales"])
    sku_classes = classify_demand(history["sales"], by=("sku_id",))
    truth = data.truth.set_index("sku_id")
    intended = series_classes["sku_id"].map(truth["demand_class"])
    judged = intended != ""  # dying SKUs change class over time
    agreement = float((series_classes["demand_class"] == intended)[judged].mean())
    class_share = series_classes["demand_class"].value_counts(normalize=True).to_dict()
    summary: dict[str, Any] = {
        "skus": int(loaded["skus"].shape[0]),
        "series": int(series_classes.shape[0]),
        "sales_rows": int(history["sales"].shape[0]),
        "transactions": int(history["transactions"].shape[0]),
        "customers": int(history["transactions"]["customer_id"].nunique()),
        "weekly_sales_rows": int(weekly.shape[0]),
        "class_agreement_with_truth": agreement,
        "class_share": {k: round(float(v), 3) for k, v in class_share.items()},
        "slow_mover_share_truth": float(data.truth["slow_mover"].mean()),
        "holdout_days": cfg.horizon,
    }
    stages = _train_and_score(cfg, history, data.truth, out, tracking_uri)
    stages.update(_simulate(cfg, loaded, stages["predictor_version"], tracking_uri))
    summary.update(stages)
    with tracking.start_run("demo", "demo", tracking_uri=tracking_uri) as run:
        tracking.log_config(cfg, "demo")
        tracking.log_config(data.config, "synthetic")
        tracking.log_metrics(
            {
                "n_series": summary["series"],
                "n_transactions": summary["transactions"],
                "class_agreement_with_truth": agreement,
                **{f"class_share_{k}": v for k, v in summary["class_share"].items()},
                **{k: v for k, v in stages.items() if isinstance(v, float)},
            }
        )
        tracking.log_table(series_classes, "classification/series.parquet")
        tracking.log_table(sku_classes, "classification/sku.parquet")
        tracking.log_figure(adi_cv2_scatter(series_classes), "plots/adi_cv2.png")
        summary["mlflow_run_id"] = run.info.run_id
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["output_dir"] = str(out.resolve())
    summary["store"] = tracking.resolve_tracking_uri(tracking_uri)
    return summary


def _train_and_score(
    cfg: DemoConfig,
    loaded: dict[str, Any],
    truth: Any,
    out: Path,
    tracking_uri: str | None,
) -> dict[str, Any]:
    """Demand, propensity, predictor, registry, batch scoring; figures against the truth."""
    sales, tx = loaded["sales"], loaded["transactions"]
    end = sales["ds"].max()
    t = time.perf_counter()
    demand = train_demand(
        sales,
        # the predictor scores without AutoETS (too slow to refit per call), so the demo
        # does not spend its minutes backtesting it
        DemandConfig(
            horizon=cfg.horizon,
            seed=cfg.seed,
            local_models=tuple(m for m in LOCAL_MODELS if m != "AutoETS"),
        ),
        tracking_uri=tracking_uri,
        source="demo",
    )
    seconds_demand = time.perf_counter() - t
    t = time.perf_counter()
    propensity = train_propensity(
        tx,
        end,
        PropensityConfig(horizon_days=cfg.repurchase_days, n_train_cutoffs=2, seed=cfg.seed),
        tracking_uri=tracking_uri,
        source="demo",
    )
    seconds_propensity = time.perf_counter() - t
    t = time.perf_counter()
    built = build_predictor(
        tx,
        sales,
        loaded["inventory"],
        loaded["skus"],
        PredictorConfig(
            policy=cfg.policy.with_(horizon_days=cfg.horizon),
            repurchase_days=cfg.repurchase_days,
        ),
        tracking_uri=tracking_uri,
        forecaster=demand.forecaster,
    )
    seconds_build = time.perf_counter() - t
    t = time.perf_counter()
    # the demo's own version, promoted or not (a champion from other data stays champion)
    registered = load_pyfunc(f"models:/{tracking.PREDICTOR_MODEL}/{built.model_version}")
    decisions = registered.predict(with_stock(sales, loaded["inventory"]))
    write_table(decisions, out / "decisions.csv")
    seconds_score = time.perf_counter() - t
    got = decisions.merge(truth, on="sku_id", suffixes=("", "_truth"))

    def share(archetypes: tuple[str, ...], expected: str) -> float:
        rows = got[got["archetype"].isin(archetypes)]
        return float((rows["stocking"] == expected).mean()) if len(rows) else float("nan")

    hit = float((got["slow_mover"] & got["slow_mover_truth"]).sum())
    return {
        "demand_backtest_rmsse": float(
            demand.backtest_summary.query("model == 'forecast' and demand_class == 'all'")[
                "rmsse"
            ].iloc[0]
        ),
        "propensity_strategy": propensity.model.strategy_,
        "expected_repurchasers": float(propensity.scores["score"].sum()),
        "predictor_version": built.model_version,
        "demand_version": demand.model_version,
        "propensity_version": propensity.model_version,
        "gate": built.verdict,
        "consumables_unified": share(("consumable",), "unified"),
        "rare_goods_tiered": share(("durable", "custom"), "tiered"),
        "slow_mover_precision": hit / max(float(got["slow_mover"].sum()), 1.0),
        "slow_mover_recall": hit / max(float(got["slow_mover_truth"].sum()), 1.0),
        "share_tiered": float((decisions["stocking"] == "tiered").mean()),
        "share_slow_movers": float(decisions["slow_mover"].mean()),
        "seconds_demand": round(seconds_demand, 1),
        "seconds_propensity": round(seconds_propensity, 1),
        "seconds_build_predictor": round(seconds_build, 1),
        "seconds_score": round(seconds_score, 1),
        "decisions_file": str((out / "decisions.csv").resolve()),
    }


def _simulate(
    cfg: DemoConfig, loaded: dict[str, Any], version: str, tracking_uri: str | None
) -> dict[str, Any]:
    """Replay the held-out days under the demo's predictor and under all-unified."""
    t = time.perf_counter()
    result, run_id = run_simulation(
        f"models:/{tracking.PREDICTOR_MODEL}/{version}",
        loaded["sales"],
        loaded["inventory"],
        cfg.horizon,
        tracking_uri=tracking_uri,
        run_name="demo",
    )
    s = result.summary.set_index("policy")
    out: dict[str, Any] = {}
    for policy in s.index:
        for metric in ("fill_rate", "turnover_days", "slow_mover_share_end"):
            out[f"sim_{policy}_{metric}"] = float(s.loc[policy, metric])
    out["sim_turnover_days_change"] = result.improvement()["turnover_days_change"]
    out["seconds_simulate"] = round(time.perf_counter() - t, 1)
    out["simulation_run_id"] = run_id
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The printed summary of the demo."""
    ui = "forecasting ui"
    if summary["store"] != tracking.default_tracking_uri():
        ui += f" --tracking-uri {summary['store']}"
    lines = [
        "forecasting demo: done in {seconds}s".format(**summary),
        "  data: {skus} SKUs, {series} SKU x channel series, {sales_rows} sales rows, "
        "{transactions} transactions from {customers} customers".format(**summary),
        "  demand classes: "
        + ", ".join(f"{k} {v:.0%}" for k, v in sorted(summary["class_share"].items())),
        "  classes agree with the generator's truth on "
        f"{summary['class_agreement_with_truth']:.1%} of series",
        f"  demand: backtest RMSSE {summary['demand_backtest_rmsse']:.3f} "
        f"({summary['seconds_demand']}s); propensity: strategy "
        f"'{summary['propensity_strategy']}', "
        f"{summary['expected_repurchasers']:.0f} expected repurchasers "
        f"({summary['seconds_propensity']}s)",
        f"  predictor v{summary['predictor_version']} ({summary['gate']}): "
        f"{summary['share_tiered']:.0%} tiered, {summary['share_slow_movers']:.0%} slow movers",
        f"  against the truth: consumables unified {summary['consumables_unified']:.0%}, "
        f"durable and custom goods tiered {summary['rare_goods_tiered']:.0%}, slow movers "
        f"precision {summary['slow_mover_precision']:.2f} "
        f"recall {summary['slow_mover_recall']:.2f}",
        f"  simulation of {summary.get('holdout_days', '')} held-out days: fill rate "
        f"{summary['sim_predictor_fill_rate']:.2%} vs {summary['sim_all_unified_fill_rate']:.2%}"
        f" all-unified; turnover {summary['sim_predictor_turnover_days']:.1f} vs "
        f"{summary['sim_all_unified_turnover_days']:.1f} days "
        f"({summary['sim_turnover_days_change']:+.0%}); slow movers at the end "
        f"{summary['sim_predictor_slow_mover_share_end']:.1%} vs "
        f"{summary['sim_all_unified_slow_mover_share_end']:.1%}",
        f"  decisions: {summary['decisions_file']}",
        f"  files: {summary['output_dir']}/data",
        f"  MLflow run: {summary['mlflow_run_id']} (experiment {tracking.EXPERIMENTS['demo']})",
        f"  store: {summary['store']}",
        f"  registered: {tracking.DEMAND_MODEL} v{summary['demand_version']}, "
        f"{tracking.PROPENSITY_MODEL} v{summary['propensity_version']}, "
        f"{tracking.PREDICTOR_MODEL} v{summary['predictor_version']}",
        f"  browse them: {ui}   (then open http://127.0.0.1:5000)",
    ]
    return "\n".join(lines)
