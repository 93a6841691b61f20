"""The elastic-SKU predictor: the estimator, its promotion gate and the replay of its
decisions."""

from forecasting.predictor.config import PredictorConfig
from forecasting.predictor.estimator import ElasticSkuPredictor
from forecasting.predictor.gate import chosen_cost, gate_verdict
from forecasting.predictor.replay import simulate_predictor, split_holdout

__all__ = [
    "ElasticSkuPredictor",
    "PredictorConfig",
    "chosen_cost",
    "gate_verdict",
    "simulate_predictor",
    "split_holdout",
]
