"""forecasting: the elastic-SKU strategy of omnichannel retail, tracked in MLflow."""

from forecasting.errors import DataContractError, ForecastingError, ShortHistoryWarning

__version__ = "0.1.0"

__all__ = ["DataContractError", "ForecastingError", "ShortHistoryWarning", "__version__"]
