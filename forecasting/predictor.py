"""`ElasticSkuPredictor`: demand forecasts + repurchase rates + the stocking cost model,
one decision per SKU (DESIGN.md's predictor output)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS, validate
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.errors import ForecastingError
from forecasting.policy.config import PolicyConfig
from forecasting.policy.decide import decide
from forecasting.propensity.repurchase import sku_repurchase_rates


@dataclass(frozen=True)
class PredictorConfig:
    """The predictor's parts: demand, policy and the repurchase window."""

    demand: DemandConfig = field(default_factory=DemandConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    repurchase_days: int = 60
    cost_share_of_price: float = 0.6  # unit cost from prices when the SKU table has none


class ElasticSkuPredictor:
    """``fit(transactions, sales=None, skus=None)``; ``predict(sales, inventory=None)``."""

    def __init__(self, config: PredictorConfig | None = None) -> None:
        self.config = config or PredictorConfig()

    def fit(
        self,
        transactions: pd.DataFrame,
        sales: pd.DataFrame | None = None,
        skus: pd.DataFrame | None = None,
    ) -> ElasticSkuPredictor:
        cfg = self.config
        tx = validate(transactions, TRANSACTIONS, "<transactions>")
        if sales is None:
            sales = transactions_to_sales(tx, cfg.demand.freq, validated=True)
        else:
            sales = validate(sales, SALES, "<sales>")
        self.demand_ = DemandForecaster(cfg.demand).fit(sales)
        rates = sku_repurchase_rates(tx, tx["ts"].max(), cfg.repurchase_days)
        facts = rates[["sku_id", "predicted_rate"]].rename(
            columns={"predicted_rate": "repurchase_rate"}
        )
        price = _unit_price(tx, sales)
        facts = facts.merge(price.rename("unit_price").reset_index(), on="sku_id", how="outer")
        if skus is not None and "unit_cost" in skus.columns:
            table = validate(skus, SKUS, "<skus>")[["sku_id", "unit_cost"]]
            facts = facts.merge(table, on="sku_id", how="left")
        else:
            facts["unit_cost"] = np.nan
        facts["unit_cost"] = facts["unit_cost"].fillna(
            facts["unit_price"] * cfg.cost_share_of_price
        )
        self.sku_facts_ = facts[["sku_id", "unit_cost", "repurchase_rate"]]
        return self

    def predict(
        self,
        sales: pd.DataFrame,
        inventory: pd.DataFrame | None = None,
        horizon: int | None = None,
    ) -> pd.DataFrame:
        """One row per SKU of ``sales`` (DESIGN.md's columns plus tier units)."""
        if not hasattr(self, "demand_"):
            raise ForecastingError("call fit() (or ElasticSkuPredictor.load) before predict()")
        sales = validate(sales, SALES, "<sales>")
        inv = validate(inventory, INVENTORY, "<inventory>") if inventory is not None else None
        forecast = self.demand_.predict(sales, horizon=horizon)
        level = max(self.config.demand.levels)
        return decide(forecast, sales, inv, self.sku_facts_, self.config.policy, level=level)

    def save(self, folder: str | Path) -> Path:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.demand_.save(out / "demand")
        self.sku_facts_.to_parquet(out / "sku_facts.parquet", index=False)
        state = {
            "policy": asdict(self.config.policy),
            "repurchase_days": self.config.repurchase_days,
            "cost_share_of_price": self.config.cost_share_of_price,
        }
        (out / "predictor.json").write_text(json.dumps(state, indent=2))
        return out

    @classmethod
    def load(cls, folder: str | Path) -> ElasticSkuPredictor:
        src = Path(folder)
        state = json.loads((src / "predictor.json").read_text())
        policy = state["policy"]
        policy["nodes_per_channel"] = tuple(tuple(p) for p in policy["nodes_per_channel"])
        demand = DemandForecaster.load(src / "demand")
        cfg = PredictorConfig(
            demand=demand.config,
            policy=PolicyConfig(**policy),
            repurchase_days=state["repurchase_days"],
            cost_share_of_price=state["cost_share_of_price"],
        )
        self = cls(cfg)
        self.demand_ = demand
        self.sku_facts_ = pd.read_parquet(src / "sku_facts.parquet")
        return self


def _unit_price(tx: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Mean unit price per SKU from transaction amounts, else from sales prices."""
    if "amount" in tx.columns and tx["amount"].notna().any():
        g = tx.groupby("sku_id")
        return g["amount"].sum() / g["quantity"].sum()
    if "price" in sales.columns:
        return sales.groupby("sku_id")["price"].mean()
    return pd.Series(dtype="float64", name="unit_price")


__all__: list[Any] = ["ElasticSkuPredictor", "PredictorConfig"]
