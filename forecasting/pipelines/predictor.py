"""`build_predictor`: fit the elastic-SKU predictor, log and register it, and promote it
through the gate."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from forecasting import tracking
from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import SALES, TRANSACTIONS, validate
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.report import backtest_report, overall
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig, chosen_cost, gate_verdict
from forecasting.serving import load_pyfunc, log_predictor_model, sales_input_example


@dataclass
class BuildResult:
    predictor: ElasticSkuPredictor
    decisions: pd.DataFrame
    figures: dict[str, float]
    verdict: str
    run_id: str | None = None
    model_version: str | None = None
    promoted: bool = False


def build_predictor(
    transactions: pd.DataFrame,
    sales: pd.DataFrame | None = None,
    inventory: pd.DataFrame | None = None,
    skus: pd.DataFrame | None = None,
    config: PredictorConfig | None = None,
    *,
    tracking_uri: str | None = None,
    name: str | None = None,
    alias: str | None = None,
    tolerance: float = 0.0,
    forecaster: DemandForecaster | None = None,
) -> BuildResult:
    """Fit, log and register the predictor; move ``alias`` to it only through the gate.

    The gate (`gate_verdict`): no champion yet, or on the same sales the new version's total
    expected cost and its demand backtest RMSSE are no worse (within ``tolerance``) than the
    champion's. The figures and the verdict are tagged on the new version.
    """
    name = name or tracking.PREDICTOR_MODEL
    alias = alias or tracking.SERVING_ALIAS
    cfg = config or PredictorConfig()
    tx = validate(transactions, TRANSACTIONS, "<transactions>")
    if sales is None:
        sales = transactions_to_sales(tx, cfg.demand.freq, validated=True)
    sales = validate(sales, SALES, "<sales>")
    if forecaster is not None:
        cfg = replace(cfg, demand=forecaster.config)
    predictor = ElasticSkuPredictor(cfg).fit(tx, sales, skus, forecaster=forecaster)
    decisions = predictor.predict(sales, inventory)
    final = overall(backtest_report(predictor.demand_, sales)[1])
    figures = {
        "backtest_rmsse": float(final["rmsse"]) if final is not None else float("nan"),
        "expected_cost_total": chosen_cost(decisions),  # costs do not depend on stock
        "share_tiered": float((decisions["stocking"] == "tiered").mean()),
        "share_slow_movers": float(decisions["slow_mover"].mean()),
    }
    champion = tracking.alias_version(name, alias, tracking_uri)
    champion_cost = champion_rmsse = None
    if champion is not None:
        old = load_pyfunc(f"models:/{name}@{alias}")
        champion_cost = chosen_cost(old.predict(sales))
        tags = tracking.version_tags(name, champion, tracking_uri)
        champion_rmsse = float(tags.get("backtest_rmsse", "inf"))
    verdict = gate_verdict(figures, champion, champion_cost, champion_rmsse, tolerance)
    result = BuildResult(predictor, decisions, figures, verdict)
    with tracking.start_run("predictor", "build-predictor", tracking_uri=tracking_uri) as run:
        tracking.log_config(cfg.policy, "policy")
        tracking.log_config(cfg.demand, "demand")
        tracking.log_metrics(figures)
        tracking.log_table(decisions, "decisions.parquet")
        example = sales_input_example(sales, periods=60)
        info = log_predictor_model(predictor, example, name)
        version = str(info.registered_model_version)
        tags = {key: f"{value:.6g}" for key, value in figures.items()}
        tracking.set_version_tags(name, version, {**tags, "validation": verdict}, tracking_uri)
        result.model_version = version
        result.run_id = run.info.run_id
        if verdict.startswith("pass"):
            tracking.set_alias(name, alias, version, tracking_uri)
            result.promoted = True
    return result
