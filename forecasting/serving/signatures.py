"""The signatures of the three registered models: what MLflow checks a request against."""

from __future__ import annotations

from typing import Any

from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

SALES_INPUT = Schema(
    [
        ColSpec("string", "sku_id"),
        ColSpec("string", "channel"),
        ColSpec("datetime", "ds"),
        ColSpec("double", "y"),
        ColSpec("double", "price", required=False),
        ColSpec("double", "promo", required=False),
        ColSpec("double", "on_hand", required=False),
    ]
)


TRANSACTIONS_INPUT = Schema(
    [
        ColSpec("string", "customer_id"),
        ColSpec("string", "sku_id"),
        ColSpec("string", "channel"),
        ColSpec("datetime", "ts"),
        ColSpec("double", "quantity"),
        ColSpec("double", "amount", required=False),
        ColSpec("string", "order_id", required=False),
    ]
)


PREDICTOR_PARAMS = ("service_level", "holding_rate", "margin_rate", "transfer_cost_fixed")


def demand_signature(forecaster: Any) -> ModelSignature:
    cfg = forecaster.config
    cols: list[ColSpec | TensorSpec] = [
        ColSpec("string", "sku_id"),
        ColSpec("string", "channel"),
        ColSpec("datetime", "ds"),
        ColSpec("double", "forecast"),
        *[ColSpec("double", f"forecast-{n}") for n in cfg.quantiles],
        ColSpec("string", "demand_class"),
    ]
    return ModelSignature(
        inputs=SALES_INPUT,
        outputs=Schema(cols),
        params=ParamSchema([ParamSpec("horizon", "long", cfg.horizon)]),
    )


def propensity_signature() -> ModelSignature:
    outputs = Schema(
        [
            ColSpec("string", "customer_id"),
            ColSpec("double", "score"),
            ColSpec("double", "score_model"),
            ColSpec("double", "score_bgnbd"),
        ]
    )
    return ModelSignature(
        inputs=TRANSACTIONS_INPUT,
        outputs=outputs,
        params=ParamSchema([ParamSpec("cutoff", "string", "")]),
    )


def predictor_signature(predictor: Any) -> ModelSignature:
    policy = predictor.config.policy
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", "sku_id"),
        ColSpec("string", "stocking"),
        ColSpec("boolean", "slow_mover"),
        ColSpec("string", "slow_mover_reason"),
        ColSpec("string", "demand_class"),
        ColSpec("double", "forecast_units"),
        ColSpec("double", "weeks_of_cover", required=False),
        ColSpec("double", "repurchase_rate", required=False),
        ColSpec("double", "expected_cost_unified"),
        ColSpec("double", "expected_cost_tiered"),
        ColSpec("string", "reason"),
        ColSpec("double", "units_central"),
        ColSpec("double", "units_regional"),
        ColSpec("double", "units_store"),
    ]
    params = [ParamSpec("horizon", "long", predictor.config.demand.horizon)]
    params += [ParamSpec(k, "double", float(getattr(policy, k))) for k in PREDICTOR_PARAMS]
    return ModelSignature(inputs=SALES_INPUT, outputs=Schema(outputs), params=ParamSchema(params))
