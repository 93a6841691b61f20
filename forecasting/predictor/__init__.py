"""The elastic-SKU predictor: the estimator, its promotion gate and the replay of its
decisions."""

from forecasting.predictor.config import PredictorConfig
from forecasting.predictor.estimator import ElasticSkuPredictor
from forecasting.predictor.gate import Judgement, chosen_cost, feed_mismatch, gate_verdict, judge
from forecasting.predictor.replay import simulate_predictor, split_holdout

__all__ = [
    "ElasticSkuPredictor",
    "Judgement",
    "PredictorConfig",
    "chosen_cost",
    "feed_mismatch",
    "gate_verdict",
    "judge",
    "simulate_predictor",
    "split_holdout",
]
