"""The pipelines: training, building, scoring and replaying, each tracked as an MLflow run
(the command line is a thin face over these)."""

from forecasting.pipelines.demand import DemandResult, train_demand
from forecasting.pipelines.predictor import BuildResult, build_predictor
from forecasting.pipelines.propensity import PropensityResult, train_propensity
from forecasting.pipelines.simulation import run_simulation

__all__ = [
    "BuildResult",
    "DemandResult",
    "PropensityResult",
    "build_predictor",
    "run_simulation",
    "train_demand",
    "train_propensity",
]
