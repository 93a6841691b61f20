"""MLflow pyfunc wrappers and their logging: the models other people load from the registry."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

PACKAGE_DIR = Path(__file__).resolve().parent.parent

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


class DemandForecasterModel(PythonModel):
    """``models:/demand-forecaster@...``: sales history in, forecasts out.

    Input: a DataFrame in the sales contract. Params: ``horizon`` (periods). Output:
    ``sku_id, channel, ds, forecast, forecast-lo-L, forecast-median, forecast-hi-L,
    demand_class``. Local models are refit on the given history; LightGBM is loaded from
    its native file.
    """

    def load_context(self, context: Any) -> None:
        from forecasting.demand.forecaster import DemandForecaster

        self.forecaster = DemandForecaster.load(context.artifacts["forecaster"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        horizon = int((params or {}).get("horizon") or self.forecaster.config.horizon)
        out = self.forecaster.predict(model_input, horizon=horizon)
        return out


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


def log_demand_model(
    forecaster: Any,
    input_example: pd.DataFrame,
    registered_model_name: str | None = None,
    name: str = "demand-forecaster",
) -> Any:
    """Log the fitted forecaster as a pyfunc model in the active run (and register it)."""
    return _log_saved(
        forecaster,
        "forecaster",
        "demand_model_code.py",
        name,
        demand_signature(forecaster),
        input_example,
        registered_model_name,
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


class PropensityPyfunc(PythonModel):
    """``models:/repurchase-propensity@...``: raw transactions in, ``customer_id, score`` out.

    Params: ``cutoff`` (YYYY-MM-DD; default the last day in the input). The score is
    P(a purchase in the model's horizon after the cutoff day).
    """

    def load_context(self, context: Any) -> None:
        from forecasting.propensity.model import PropensityModel

        self.model = PropensityModel.load(context.artifacts["propensity"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        from forecasting.data.contracts import TRANSACTIONS, validate

        tx = validate(model_input, TRANSACTIONS, "<transactions>")
        cutoff = (params or {}).get("cutoff") or str(tx["ts"].max().date())
        return self.model.predict(tx, cutoff)


def log_propensity_model(
    model: Any, input_example: pd.DataFrame, registered_model_name: str | None = None
) -> Any:
    """Log the fitted propensity model as a pyfunc in the active run (and register it)."""
    outputs = Schema(
        [
            ColSpec("string", "customer_id"),
            ColSpec("double", "score"),
            ColSpec("double", "score_model"),
            ColSpec("double", "score_bgnbd"),
        ]
    )
    signature = ModelSignature(
        inputs=TRANSACTIONS_INPUT,
        outputs=outputs,
        params=ParamSchema([ParamSpec("cutoff", "string", "")]),
    )
    return _log_saved(
        model,
        "propensity",
        "propensity_model_code.py",
        "repurchase-propensity",
        signature,
        input_example,
        registered_model_name,
    )


PREDICTOR_PARAMS = ("service_level", "holding_rate", "margin_rate", "transfer_cost_fixed")


class ElasticSkuPyfunc(PythonModel):
    """``models:/elastic-sku-predictor@champion``: sales history (optionally ``on_hand``) in,
    one decision per SKU out. Params: ``horizon`` and the cost settings ``service_level``,
    ``holding_rate``, ``margin_rate``, ``transfer_cost_fixed`` (0 or absent: as trained)."""

    def load_context(self, context: Any) -> None:
        from forecasting.predictor import ElasticSkuPredictor

        self.predictor = ElasticSkuPredictor.load(context.artifacts["predictor"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        from dataclasses import replace

        params = params or {}
        changes = {k: float(params[k]) for k in PREDICTOR_PARAMS if params.get(k)}
        predictor = self.predictor
        if changes:
            predictor = predictor.__class__(
                replace(predictor.config, policy=predictor.config.policy.with_(**changes))
            )
            predictor.demand_ = self.predictor.demand_
            predictor.sku_facts_ = self.predictor.sku_facts_
        horizon = int(params.get("horizon") or predictor.config.demand.horizon)
        return predictor.predict(model_input, horizon=horizon)


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


def log_predictor_model(
    predictor: Any, input_example: pd.DataFrame, registered_model_name: str | None = None
) -> Any:
    """Log the elastic-SKU predictor as a pyfunc in the active run (and register it)."""
    return _log_saved(
        predictor,
        "predictor",
        "predictor_model_code.py",
        "elastic-sku-predictor",
        predictor_signature(predictor),
        input_example,
        registered_model_name,
    )


def _log_saved(
    obj: Any,
    artifact: str,
    code_file: str,
    name: str,
    signature: ModelSignature,
    input_example: pd.DataFrame,
    registered_model_name: str | None,
) -> Any:
    """Save ``obj`` (lean files) to a temporary folder and log it as a models-from-code
    pyfunc whose ``context.artifacts[artifact]`` is that folder."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = obj.save(Path(tmp) / artifact)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name(code_file)),
            artifacts={artifact: str(folder)},
            code_paths=[str(PACKAGE_DIR)],
            signature=signature,
            input_example=input_example,
            registered_model_name=registered_model_name,
        )
