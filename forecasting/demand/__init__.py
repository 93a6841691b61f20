"""Demand forecasting per SKU x channel: classification, candidates, backtests, selection."""

from forecasting.demand.classification import classify_demand, syntetos_boylan
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster

__all__ = ["DemandConfig", "DemandForecaster", "classify_demand", "syntetos_boylan"]
