"""The pyfunc wrappers of the registered models: what ``mlflow.pyfunc.load_model`` gives a
consumer that knows nothing of this package."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from forecasting.errors import ForecastingError
from forecasting.serving.signatures import PREDICTOR_PARAMS

#: Set by MLflow's scoring server (``mlflow models serve``) in its process.
SERVING = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"
#: Rows one served request may hold (``FORECASTING_MAX_REQUEST_ROWS``); larger batches
#: belong to ``forecasting score``, which streams files of any size.
MAX_REQUEST_ROWS = int(os.environ.get("FORECASTING_MAX_REQUEST_ROWS", "1000000"))


class ServingError(MlflowException):
    """A user error inside a model's ``predict``, as MLflow's ``INVALID_PARAMETER_VALUE``:
    the scoring server answers 400 with this one message. MLflow's server rewrites an
    exception's ``message`` to prepend the whole request's data; this one keeps its own
    line (and carries no stack trace)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)
        self._line = message

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, value: str) -> None:  # the server's rewrite is ignored
        pass


class _Guarded(PythonModel):
    """``predict`` for every model: user errors as `ServingError`, a row limit when served,
    and ``null`` rather than ``NaN`` in a served response (bare NaN is not JSON)."""

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        served = os.environ.get(SERVING) == "true"
        try:
            if served and len(model_input) > MAX_REQUEST_ROWS:
                raise ForecastingError(
                    f"the request holds {len(model_input)} rows, more than the limit of "
                    f"{MAX_REQUEST_ROWS} (FORECASTING_MAX_REQUEST_ROWS): send smaller batches, "
                    "or score files with `forecasting score`"
                )
            out = self._predict(model_input, params or {})
        except ForecastingError as exc:
            raise ServingError(str(exc).strip().splitlines()[0]) from None
        return _json_nulls(out) if served else out

    def _predict(self, model_input: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        raise NotImplementedError


def _json_nulls(out: pd.DataFrame) -> pd.DataFrame:
    """Float columns with gaps as objects holding None: JSON ``null``."""
    gaps = [c for c in out.columns if out[c].dtype.kind == "f" and out[c].isna().any()]
    if not gaps:
        return out
    fixed = out.copy()
    for c in gaps:
        values = fixed[c].to_numpy(dtype=object)
        values[pd.isna(fixed[c]).to_numpy()] = None
        fixed[c] = pd.Series(values, index=fixed.index, dtype=object)
    return fixed


class DemandForecasterModel(_Guarded):
    """``models:/demand-forecaster@...``: sales history in, forecasts out.

    Input: a DataFrame in the sales contract. Params: ``horizon`` (periods). Output:
    ``sku_id, channel, ds, forecast, forecast-lo-L, forecast-median, forecast-hi-L,
    demand_class``. Local models are refit on the given history; LightGBM is loaded from
    its native file.
    """

    def load_context(self, context: Any) -> None:
        from forecasting.demand.forecaster import DemandForecaster

        self.forecaster = DemandForecaster.load(context.artifacts["forecaster"])

    def _predict(self, model_input: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        horizon = _horizon(params, self.forecaster.config.horizon)
        return self.forecaster.predict(model_input, horizon=horizon)


class PropensityPyfunc(_Guarded):
    """``models:/repurchase-propensity@...``: raw transactions in, ``customer_id, score`` out.

    Params: ``cutoff`` (YYYY-MM-DD; default the last day in the input). The score is
    P(a purchase in the model's horizon after the cutoff day).
    """

    def load_context(self, context: Any) -> None:
        from forecasting.propensity.model import PropensityModel

        self.model = PropensityModel.load(context.artifacts["propensity"])

    def _predict(self, model_input: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        from forecasting.data.contracts import TRANSACTIONS, validate

        tx = validate(model_input, TRANSACTIONS, "<transactions>")
        cutoff = params.get("cutoff") or str(tx["ts"].max().date())
        return self.model.predict(tx, cutoff)


class ElasticSkuPyfunc(_Guarded):
    """``models:/elastic-sku-predictor@champion``: sales history (optionally ``on_hand``) in,
    one decision per SKU out. Params: ``horizon`` and the cost settings ``service_level``,
    and settings of the policy (`PREDICTOR_PARAMS`); each absent one as trained, every given
    one used as given (0 included)."""

    def load_context(self, context: Any) -> None:
        from forecasting.predictor import ElasticSkuPredictor

        self.predictor = ElasticSkuPredictor.load(context.artifacts["predictor"])

    def _predict(self, model_input: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
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
