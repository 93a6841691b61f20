"""The one place that talks to MLflow's tracking and registry: the store's URI, experiments,
runs and what they log, aliases and version tags. It imports nothing else of `forecasting`
(the pyfunc models are in `forecasting.serving`)."""

from forecasting.tracking.registry import alias_version, set_alias, set_version_tags, version_tags
from forecasting.tracking.runs import (
    flatten_params,
    log_config,
    log_dict,
    log_figure,
    log_metrics,
    log_params,
    log_table,
    log_text,
    set_tags,
    start_run,
)
from forecasting.tracking.store import (
    DEMAND_MODEL,
    EXPERIMENTS,
    PREDICTOR_MODEL,
    PROPENSITY_MODEL,
    SERVING_ALIAS,
    artifact_root,
    configure,
    default_tracking_uri,
    get_or_create_experiment,
    project_root,
    resolve_tracking_uri,
)

__all__ = [
    "DEMAND_MODEL",
    "EXPERIMENTS",
    "PREDICTOR_MODEL",
    "PROPENSITY_MODEL",
    "SERVING_ALIAS",
    "alias_version",
    "artifact_root",
    "configure",
    "default_tracking_uri",
    "flatten_params",
    "get_or_create_experiment",
    "log_config",
    "log_dict",
    "log_figure",
    "log_metrics",
    "log_params",
    "log_table",
    "log_text",
    "project_root",
    "resolve_tracking_uri",
    "set_alias",
    "set_tags",
    "set_version_tags",
    "start_run",
    "version_tags",
]
