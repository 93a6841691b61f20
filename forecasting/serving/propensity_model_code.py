"""MLflow "models from code" entry point of the repurchase-propensity pyfunc (not imported)."""

from mlflow.models import set_model

from forecasting.serving.pyfunc import PropensityPyfunc

set_model(PropensityPyfunc())
