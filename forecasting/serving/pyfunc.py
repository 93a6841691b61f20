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
        horizon = _horizon(params, self.forecaster.config.horizon)
        return self.forecaster.predict(model_input, horizon=horizon)


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
    and settings of the policy (`PREDICTOR_PARAMS`); each absent one as trained, every given
    one used as given (0 included)."""

    def load_context(self, context: Any) -> None:
        from forecasting.predictor import ElasticSkuPredictor

        self.predictor = ElasticSkuPredictor.load(context.artifacts["predictor"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        policy = self.predictor.config.policy
        changes = {
            k: type(getattr(policy, k))(params[k])
            for k in PREDICTOR_PARAMS
            if params.get(k) is not None and params[k] != getattr(policy, k)
        }
        predictor = self.predictor.with_policy(**changes) if changes else self.predictor
        horizon = _horizon(params, predictor.config.demand.horizon)
        return predictor.predict(model_input, horizon=horizon)


def _horizon(params: dict[str, Any] | None, default: int) -> int:
    """The ``horizon`` param (absent: ``default``); below 1 is a user error."""
    from forecasting.errors import ForecastingError

    value = (params or {}).get("horizon")
    horizon = default if value is None else int(value)
    if horizon < 1:
        raise ForecastingError(f"param horizon={value!r}: give a number of periods >= 1")
    return horizon
