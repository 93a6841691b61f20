"""The signatures of the three registered models: what MLflow checks a request against."""

from __future__ import annotations

from typing import Any

from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

from forecasting.data.contracts import SALES, TRANSACTIONS, TableContract


def contract_schema(contract: TableContract) -> Schema:
    """The input schema of a contract: its columns by name, required or optional, each of
    MLflow's ``AnyType``.

    Typed columns would make MLflow refuse what DESIGN.md allows before the model runs:
    units read from a CSV are ``int64``, which MLflow will not cast to ``double``; IDs read
    as numbers are not ``string``; dates may be ISO text. The model validates every input
    against the contract itself (`forecasting.data.contracts.validate`), with the one-line
    messages the command line gives. The cost: MLflow's CSV parser for ``mlflow models
    serve`` needs typed columns, so the served models take JSON (``dataframe_split`` or
    ``dataframe_records``); ``mlflow models predict`` takes CSV and JSON.
    """
    return Schema([ColSpec(AnyType(), c.name, required=c.required) for c in contract.columns])


SALES_INPUT = contract_schema(SALES)
TRANSACTIONS_INPUT = contract_schema(TRANSACTIONS)

#: The policy settings a scoring call may change (params of the predictor's signature;
#: each defaults to the registered model's value). The network and per-SKU settings are
#: set when the predictor is built (``--policy``).
PREDICTOR_PARAMS = (
    "service_level",
    "holding_rate",
    "upstream_holding_factor",
    "margin_rate",
    "store_lead_days",
    "central_lead_days",
    "transfer_cost_rate",
    "transfer_cost_fixed",
    "wait_loss_frequent",
    "wait_loss_rare",
    "channel_correlation",
    "showroom_share",
    "display_units",
    "regional_share",
    "max_weeks_of_cover",
    "decay_ratio",
)


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
        ColSpec("string", "hold_reason"),
        ColSpec("double", "stockout_share"),
        ColSpec("double", "lost_sales_units"),
        ColSpec("boolean", "weeks_of_cover_capped"),
        ColSpec("string", "currency"),
    ]
    params: list[ParamSpec] = [ParamSpec("horizon", "long", predictor.config.demand.horizon)]
    for k in PREDICTOR_PARAMS:
        value = getattr(policy, k)
        kind = "long" if isinstance(value, int) and not isinstance(value, bool) else "double"
        params.append(ParamSpec(k, kind, value))
    return ModelSignature(inputs=SALES_INPUT, outputs=Schema(outputs), params=ParamSchema(params))
