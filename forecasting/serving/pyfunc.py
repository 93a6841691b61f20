"""The pyfunc wrappers of the registered models: what ``mlflow.pyfunc.load_model`` gives a
consumer that knows nothing of this package."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from forecasting.serving.signatures import PREDICTOR_PARAMS


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
        params = params or {}
        changes = {k: float(params[k]) for k in PREDICTOR_PARAMS if params.get(k)}
        predictor = self.predictor.with_policy(**changes) if changes else self.predictor
        horizon = int(params.get("horizon") or predictor.config.demand.horizon)
        return predictor.predict(model_input, horizon=horizon)
