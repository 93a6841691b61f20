"""MLflow "models from code" entry point of the demand-forecaster pyfunc (not imported)."""

from mlflow.models import set_model

from forecasting.serving.pyfunc import DemandForecasterModel

set_model(DemandForecasterModel())
