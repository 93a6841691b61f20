"""forecasting: the elastic-SKU strategy of omnichannel retail, tracked in MLflow.

The public face::

    from forecasting import DemandForecaster, PropensityModel, ElasticSkuPredictor
    from forecasting import read_table, generate_omnichannel, train_demand, build_predictor

Names are imported on first use, so ``import forecasting`` (and the command line's start)
stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from forecasting.errors import DataContractError, ForecastingError, ShortHistoryWarning

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_PUBLIC = {
    "DemandConfig": "forecasting.demand.config",
    "DemandForecaster": "forecasting.demand.forecaster",
    "classify_demand": "forecasting.demand.classification",
    "PropensityConfig": "forecasting.propensity.model",
    "PropensityModel": "forecasting.propensity.model",
    "PolicyConfig": "forecasting.policy.config",
    "ElasticSkuPredictor": "forecasting.predictor.estimator",
    "PredictorConfig": "forecasting.predictor.config",
    "read_table": "forecasting.data.io",
    "write_table": "forecasting.data.io",
    "validate": "forecasting.data.contracts",
    "SALES": "forecasting.data.contracts",
    "TRANSACTIONS": "forecasting.data.contracts",
    "INVENTORY": "forecasting.data.contracts",
    "SKUS": "forecasting.data.contracts",
    "transactions_to_sales": "forecasting.data.aggregate",
    "generate_omnichannel": "forecasting.data.synthetic",
    "SyntheticConfig": "forecasting.data.synthetic",
    "train_demand": "forecasting.pipelines.demand",
    "train_propensity": "forecasting.pipelines.propensity",
    "build_predictor": "forecasting.pipelines.predictor",
    "run_simulation": "forecasting.pipelines.simulation",
    "CustomerLinker": "forecasting.identity.linkage",
    "LinkConfig": "forecasting.identity.linkage",
    "link_customers": "forecasting.pipelines.identity",
}

if TYPE_CHECKING:
    from forecasting.data.aggregate import transactions_to_sales
    from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS, validate
    from forecasting.data.io import read_table, write_table
    from forecasting.data.synthetic import SyntheticConfig, generate_omnichannel
    from forecasting.demand.classification import classify_demand
    from forecasting.demand.config import DemandConfig
    from forecasting.demand.forecaster import DemandForecaster
    from forecasting.identity.linkage import CustomerLinker, LinkConfig
    from forecasting.pipelines.demand import train_demand
    from forecasting.pipelines.identity import link_customers
    from forecasting.pipelines.predictor import build_predictor
    from forecasting.pipelines.propensity import train_propensity
    from forecasting.pipelines.simulation import run_simulation
    from forecasting.policy.config import PolicyConfig
    from forecasting.predictor.config import PredictorConfig
    from forecasting.predictor.estimator import ElasticSkuPredictor
    from forecasting.propensity.model import PropensityConfig, PropensityModel


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'forecasting' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = [
    "INVENTORY",
    "SALES",
    "SKUS",
    "TRANSACTIONS",
    "CustomerLinker",
    "DataContractError",
    "DemandConfig",
    "DemandForecaster",
    "ElasticSkuPredictor",
    "ForecastingError",
    "LinkConfig",
    "PolicyConfig",
    "PredictorConfig",
    "PropensityConfig",
    "PropensityModel",
    "ShortHistoryWarning",
    "SyntheticConfig",
    "__version__",
    "build_predictor",
    "classify_demand",
    "generate_omnichannel",
    "link_customers",
    "read_table",
    "run_simulation",
    "train_demand",
    "train_propensity",
    "transactions_to_sales",
    "validate",
    "write_table",
]
