"""MLflow "models from code" entry point of the elastic-sku-predictor pyfunc (not imported)."""

from mlflow.models import set_model

from forecasting.tracking.models import ElasticSkuPyfunc

set_model(ElasticSkuPyfunc())
