"""Serving: the pyfunc wrappers of the registered models, their signatures, and logging and
loading them. The only place that knows both the models and MLflow's pyfunc."""

from forecasting.serving.models import (
    load_predictor,
    load_pyfunc,
    log_demand_model,
    log_predictor_model,
    log_propensity_model,
    sales_input_example,
)

__all__ = [
    "load_predictor",
    "load_pyfunc",
    "log_demand_model",
    "log_predictor_model",
    "log_propensity_model",
    "sales_input_example",
]
