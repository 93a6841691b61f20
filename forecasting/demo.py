"""`forecasting demo`: the whole job end to end on built-in synthetic data.

What runs today: generate an omnichannel world, write it in the contracts and read it back
through the loaders, derive weekly sales from the transactions, classify demand per series
and per SKU, and log it all in one MLflow run. Training, the predictor and the simulation
join as they are built (issues 3 to 5).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting import tracking
from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS
from forecasting.data.io import read_table, write_table
from forecasting.data.synthetic import SyntheticConfig, generate_omnichannel
from forecasting.demand.classification import classify_demand
from forecasting.demand.plots import adi_cv2_scatter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo generates and where it writes."""

    n_skus: int = 600
    n_days: int = 365
    seed: int = 0
    output_dir: str = "demo_output"


def run_demo(config: DemoConfig | None = None, tracking_uri: str | None = None) -> dict[str, Any]:
    """Run the demo and return its summary (also logged to MLflow)."""
    cfg = config or DemoConfig()
    started = time.perf_counter()
    out = Path(cfg.output_dir)
    data = generate_omnichannel(
        SyntheticConfig(n_skus=cfg.n_skus, n_days=cfg.n_days, seed=cfg.seed)
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
    weekly = transactions_to_sales(loaded["transactions"], "W", validated=True)
    series_classes = classify_demand(loaded["sales"])
    sku_classes = classify_demand(loaded["sales"], by=("sku_id",))
    truth = data.truth.set_index("sku_id")
    intended = series_classes["sku_id"].map(truth["demand_class"])
    judged = intended != ""  # dying SKUs change class over time
    agreement = float((series_classes["demand_class"] == intended)[judged].mean())
    class_share = series_classes["demand_class"].value_counts(normalize=True).to_dict()
    summary: dict[str, Any] = {
        "skus": int(loaded["skus"].shape[0]),
        "series": int(series_classes.shape[0]),
        "sales_rows": int(loaded["sales"].shape[0]),
        "transactions": int(loaded["transactions"].shape[0]),
        "customers": int(loaded["transactions"]["customer_id"].nunique()),
        "weekly_sales_rows": int(weekly.shape[0]),
        "class_agreement_with_truth": agreement,
        "class_share": {k: round(float(v), 3) for k, v in class_share.items()},
        "slow_mover_share_truth": float(data.truth["slow_mover"].mean()),
    }
    with tracking.start_run("demo", "demo", tracking_uri=tracking_uri) as run:
        import mlflow

        tracking.log_config(cfg, "demo")
        tracking.log_config(data.config, "synthetic")
        mlflow.log_metrics(
            {
                "n_series": summary["series"],
                "n_transactions": summary["transactions"],
                "class_agreement_with_truth": agreement,
                **{f"class_share_{k}": v for k, v in summary["class_share"].items()},
            }
        )
        tracking.log_table(series_classes, "classification/series.parquet")
        tracking.log_table(sku_classes, "classification/sku.parquet")
        tracking.log_figure(adi_cv2_scatter(series_classes), "plots/adi_cv2.png")
        summary["mlflow_run_id"] = run.info.run_id
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["output_dir"] = str(out.resolve())
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The printed summary of the demo."""
    lines = [
        "forecasting demo: done in {seconds}s".format(**summary),
        "  data: {skus} SKUs, {series} SKU x channel series, {sales_rows} sales rows, "
        "{transactions} transactions from {customers} customers".format(**summary),
        "  demand classes: "
        + ", ".join(f"{k} {v:.0%}" for k, v in sorted(summary["class_share"].items())),
        "  classes agree with the generator's truth on "
        f"{summary['class_agreement_with_truth']:.1%} of series",
        f"  files: {summary['output_dir']}/data",
        f"  MLflow run: {summary['mlflow_run_id']} (experiment {tracking.EXPERIMENTS['demo']})",
    ]
    return "\n".join(lines)
