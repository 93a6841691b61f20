"""Repurchase propensity: customer features and labels at a cutoff, BG/NBD, the calibrated
LightGBM model and SKU repurchase rates."""

from forecasting.propensity.model import PropensityConfig, PropensityModel

__all__ = ["PropensityConfig", "PropensityModel"]
