"""MLflow "models from code" entry point of the elastic-sku-predictor pyfunc (not imported)."""

from mlflow.models import set_model

from forecasting.serving.pyfunc import ElasticSkuPyfunc

set_model(ElasticSkuPyfunc())
