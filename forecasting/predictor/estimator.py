"""`ElasticSkuPredictor`: demand forecasts + repurchase rates + the stocking cost model,
one decision per SKU (DESIGN.md's predictor output)."""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forecasting.configs import config_from_dict, config_to_dict
from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS, validate
from forecasting.demand.forecaster import DemandForecaster
from forecasting.errors import ForecastingError, IdWarning
from forecasting.periods import read_training_period, training_period
from forecasting.policy.config import PolicyConfig
from forecasting.policy.decide import OUTPUT_COLUMNS, plan
from forecasting.policy.file import policy_to_toml
from forecasting.predictor.config import PredictorConfig
from forecasting.propensity.repurchase import sku_repurchase_rates

DEFAULT_CONFIG = PredictorConfig()
#: Columns of the SKU table that override the policy for their SKU.
SKU_SETTINGS = ("unit_cost", "lead_time_days")


class ElasticSkuPredictor(BaseEstimator):
    """``fit(transactions, sales=None, skus=None)``; ``predict(sales, inventory=None)``."""

    def __init__(self, config: PredictorConfig = DEFAULT_CONFIG) -> None:
        self.config = config

    def fit(
        self,
        transactions: pd.DataFrame,
        sales: pd.DataFrame | None = None,
        skus: pd.DataFrame | None = None,
        forecaster: DemandForecaster | None = None,
        *,
        calendar: pd.DataFrame | None = None,
        future: pd.DataFrame | None = None,
    ) -> ElasticSkuPredictor:
        """Fit on the history; ``forecaster``: an already fitted demand forecaster to reuse
        (it is not changed); ``calendar`` / ``future``: what the demand forecast knows in
        advance (`DemandForecaster.fit`; the predictor keeps the calendar)."""
        cfg = self.config
        tx = validate(transactions, TRANSACTIONS, "<transactions>")
        if sales is None:
            sales = transactions_to_sales(tx, cfg.demand.freq)
        else:
            sales = validate(sales, SALES, "<sales>")
        days = pd.concat([sales["ds"], tx["ts"].dt.normalize()])
        self.data_start_, self.data_end_ = days.min(), days.max()
        demand = (
            forecaster
            if forecaster is not None
            else DemandForecaster(cfg.demand).fit(sales, calendar=calendar, future=future)
        )
        used = {m for models in demand.selection_.values() for m in models}
        if used & set(cfg.scoring_exclude):
            demand = demand.without(cfg.scoring_exclude)
        elif demand is forecaster:
            demand = demand.copy()  # the caller's forecaster is not changed
        demand.lgb_horizon_, demand.horizon_h_ = None, None
        if cfg.direct_horizon:
            demand.fit_horizon_model(sales)
        self.demand_ = demand
        rates = sku_repurchase_rates(tx, tx["ts"].max(), cfg.repurchase_days)
        facts = rates[["sku_id", "predicted_rate"]].rename(
            columns={"predicted_rate": "repurchase_rate"}
        )
        price = _unit_price(tx, sales)
        facts = facts.merge(price.rename("unit_price").reset_index(), on="sku_id", how="outer")
        # per-SKU settings of the SKU table where it has them; the policy's elsewhere
        table = validate(skus, SKUS, "<skus>") if skus is not None else pd.DataFrame()
        own = [c for c in SKU_SETTINGS if c in table.columns]
        if own:
            facts = facts.merge(table[["sku_id", *own]], on="sku_id", how="left")
        for col in SKU_SETTINGS:
            if col not in facts.columns:
                facts[col] = np.nan
        if "category" in table.columns:  # a launch's peers (slow-mover rules)
            facts = facts.merge(table[["sku_id", "category"]], on="sku_id", how="left")
        facts["unit_cost"] = facts["unit_cost"].fillna(
            facts["unit_price"] * cfg.cost_share_of_price
        )
        recent = recent_daily_units(sales, self.data_end_)
        every = pd.DataFrame({"sku_id": pd.unique(sales["sku_id"].astype(str))})
        facts = facts.merge(every, on="sku_id", how="outer")  # every SKU the model knows
        facts = facts.merge(recent.reset_index(), on="sku_id", how="left").fillna({RECENT: 0.0})
        if "category" not in facts.columns:
            facts["category"] = None
        self.sku_facts_ = facts[["sku_id", *SKU_SETTINGS, "repurchase_rate", RECENT, "category"]]
        return self

    def predict(
        self,
        sales: pd.DataFrame,
        inventory: pd.DataFrame | None = None,
        horizon: int | None = None,
        *,
        calendar: pd.DataFrame | None = None,
        future: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """One row per SKU of ``sales`` (DESIGN.md's columns plus tier units); ``sales``
        dense or sparse (missing periods are no sales), ``inventory`` optional; ``calendar``
        replaces the predictor's own, ``future`` plans prices and promotions
        (`DemandForecaster.predict`)."""
        return self.plan(sales, inventory, horizon, calendar=calendar, future=future)[0][
            OUTPUT_COLUMNS
        ]

    def plan(
        self,
        sales: pd.DataFrame,
        inventory: pd.DataFrame | None = None,
        horizon: int | None = None,
        *,
        calendar: pd.DataFrame | None = None,
        future: pd.DataFrame | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(decisions with the replay columns, per-channel unified order-up-to units): what
        `forecasting.policy.simulation` replays."""
        if not hasattr(self, "demand_"):
            raise ForecastingError("call fit() (or ElasticSkuPredictor.load) before predict()")
        numeric_ids = _numeric_ids(sales)
        sales = validate(sales, SALES, "<sales>")
        inv = validate(inventory, INVENTORY, "<inventory>") if inventory is not None else None
        if numeric_ids:
            sales = restore_leading_zeros(sales, self.sku_facts_["sku_id"])
        forecast = self.demand_.predict_horizon(
            sales, horizon=horizon, calendar=calendar, future=future
        )
        level = max(self.config.demand.levels)
        return plan(forecast, sales, inv, self.sku_facts_, self.config.policy, level=level)

    def with_calendar(
        self, calendar: pd.DataFrame, source: str = "<calendar>"
    ) -> ElasticSkuPredictor:
        """The fitted predictor with ``calendar`` in place of its demand forecaster's own
        (same columns; `DemandForecaster.with_calendar`); the rest is shared, read only."""
        if not hasattr(self, "demand_"):
            raise ForecastingError("call fit() (or ElasticSkuPredictor.load) first")
        other = copy.copy(self)
        other.demand_ = self.demand_.with_calendar(calendar, source)
        return other

    def with_jobs(self, n_jobs: int) -> ElasticSkuPredictor:
        """The fitted predictor scoring on ``n_jobs`` cores (`DemandForecaster.with_jobs`):
        a Spark task or a ``score --jobs`` worker takes its share, not every core."""
        if not hasattr(self, "demand_"):
            raise ForecastingError("call fit() (or ElasticSkuPredictor.load) first")
        other = copy.copy(self)
        other.demand_ = self.demand_.with_jobs(n_jobs)
        return other

    def with_policy(self, **changes: Any) -> ElasticSkuPredictor:
        """The fitted predictor under other policy settings (the fitted parts are shared:
        they are only read)."""
        try:
            policy = self.config.policy.with_(**changes)
        except (TypeError, ValueError) as exc:
            raise ForecastingError(str(exc)) from None
        other = ElasticSkuPredictor(replace(self.config, policy=policy))
        other.demand_, other.sku_facts_ = self.demand_, self.sku_facts_
        other.data_start_, other.data_end_ = self.data_start_, self.data_end_
        return other

    def save(self, folder: str | Path) -> Path:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.demand_.save(out / "demand")
        self.sku_facts_.to_parquet(out / "sku_facts.parquet", index=False)
        state = config_to_dict(self.config)
        del state["demand"]  # saved with the forecaster
        state["data"] = training_period(self)
        (out / "predictor.json").write_text(json.dumps(state, indent=2))
        # the policy also as a policy file: readable, and `--policy` takes it back
        (out / "policy.toml").write_text(policy_to_toml(self.config.policy))
        return out

    @classmethod
    def load(cls, folder: str | Path) -> ElasticSkuPredictor:
        src = Path(folder)
        state = json.loads((src / "predictor.json").read_text())
        data = state.pop("data", None)
        demand = DemandForecaster.load(src / "demand")
        state["policy"] = config_from_dict(PolicyConfig, state["policy"])
        state.setdefault("direct_horizon", False)  # saved before the direct horizon model
        cfg = config_from_dict(PredictorConfig, {**state, "demand": demand.config})
        self = cls(cfg)
        self.demand_ = demand
        self.sku_facts_ = pd.read_parquet(src / "sku_facts.parquet")
        self.data_start_, self.data_end_ = read_training_period(data)
        return self


#: Days before a model's last training day whose units it remembers per SKU (an aggregate,
#: not the data): the gate checks a new feed against them.
RECENT_DAYS = 56
RECENT = "recent_daily_units"


def recent_daily_units(sales: pd.DataFrame, end: pd.Timestamp) -> pd.Series:
    """Per SKU (all channels), units per day over the `RECENT_DAYS` days up to ``end``."""
    start = pd.Timestamp(end) - pd.Timedelta(days=RECENT_DAYS - 1)
    rows = sales[(sales["ds"] >= start) & (sales["ds"] <= end)]
    units = rows.groupby(rows["sku_id"].astype(str), observed=True)["y"].sum() / RECENT_DAYS
    return units.rename(RECENT).rename_axis("sku_id")


def _unit_price(tx: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Mean unit price per SKU from transaction amounts, else from sales prices."""
    if "amount" in tx.columns and tx["amount"].notna().any():
        g = tx.groupby("sku_id")
        return g["amount"].sum() / g["quantity"].sum()
    if "price" in sales.columns:
        return sales.groupby("sku_id")["price"].mean()
    return pd.Series(dtype="float64", name="unit_price")


def _numeric_ids(sales: pd.DataFrame) -> bool:
    """Whether ``sku_id`` arrived as numbers (a CSV read with pandas' defaults)."""
    return "sku_id" in sales.columns and pd.api.types.is_numeric_dtype(sales["sku_id"])


def restore_leading_zeros(sales: pd.DataFrame, known: pd.Series) -> pd.DataFrame:
    """``sales`` whose SKU IDs arrived as numbers, with each ID the model does not know
    replaced by the one known ID that reads as the same number (``42`` -> ``00042``): a
    CSV read without ``dtype=str`` drops leading zeros before the model sees the IDs.
    Said in an `IdWarning`, with how many were restored and how many stay unknown."""
    known_ids = pd.Index(known.astype(str).unique())
    digits = known_ids[known_ids.str.fullmatch(r"\d+")]
    as_number = pd.Series(digits, index=digits.str.lstrip("0").str.pad(1, fillchar="0"))
    unique = as_number[~as_number.index.duplicated(keep=False)]
    ids = pd.Series(sales["sku_id"].unique()).astype(str)
    unknown = ids[~ids.isin(known_ids)]
    restore = {i: unique[i] for i in unknown if i in unique.index}
    still = len(unknown) - len(restore)
    example = next(iter(restore.items()), None)
    shown = f" ({example[0]} -> {example[1]})" if example else ""
    warnings.warn(
        "sku_id arrived as numbers (read CSVs with dtype={'sku_id': str} to keep IDs as "
        f"text): {len(restore)} IDs were restored to the model's zero-padded IDs{shown}, "
        f"{still} are unknown to the model",
        IdWarning,
        stacklevel=3,
    )
    if not restore:
        return sales
    return sales.assign(sku_id=sales["sku_id"].replace(restore))
