"""Demand forecasting per SKU x channel: classification, models, backtests."""

from forecasting.demand.classification import classify_demand, syntetos_boylan

__all__ = ["classify_demand", "syntetos_boylan"]
