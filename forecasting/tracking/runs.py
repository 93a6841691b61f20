"""Runs and what they log: params, metrics, configs, tables (Parquet) and figures."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.tracking.store import EXPERIMENTS, get_or_create_experiment


@contextmanager
def start_run(
    stage: str,
    run_name: str | None = None,
    *,
    tracking_uri: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> Iterator[Any]:
    """A run in the experiment of ``stage`` (a key of `EXPERIMENTS` or a full name)."""
    import mlflow

    experiment_id = get_or_create_experiment(EXPERIMENTS.get(stage, stage), tracking_uri)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, tags=dict(tags or {}), nested=nested
    ) as run:
        yield run


def flatten_params(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A (possibly nested) dataclass or mapping as flat ``a.b`` params for `mlflow.log_params`."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping) or (
                dataclasses.is_dataclass(value) and not isinstance(value, type)
            ):
                out.update(flatten_params(value, f"{name}."))
            else:
                out[name] = value if isinstance(value, int | float | bool | str) else str(value)
    return out


def log_config(config: Any, name: str = "config") -> None:
    """Log a frozen config as params and as ``<name>.json`` in the run."""
    import mlflow

    mlflow.log_params(flatten_params(config, f"{name}."))
    is_instance = dataclasses.is_dataclass(config) and not isinstance(config, type)
    payload = dataclasses.asdict(config) if is_instance else dict(config)
    mlflow.log_dict(json.loads(json.dumps(payload, default=str)), f"{name}.json")


def log_table(df: pd.DataFrame, artifact_file: str) -> None:
    """Log a DataFrame as a Parquet artifact (``artifact_file`` ends in ``.parquet``)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        df.to_parquet(path, index=False)
        parent = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if parent == "." else parent)


def log_figure(fig: Any, artifact_file: str) -> None:
    """Log a matplotlib figure and close it."""
    import matplotlib.pyplot as plt
    import mlflow

    mlflow.log_figure(fig, artifact_file)
    plt.close(fig)


def log_params(params: Mapping[str, Any]) -> None:
    """Log params in the active run."""
    import mlflow

    mlflow.log_params(dict(params))


def log_metrics(metrics: Mapping[str, float]) -> None:
    """Log metrics in the active run."""
    import mlflow

    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})


def log_dict(payload: Any, artifact_file: str) -> None:
    """Log a JSON-ready value as an artifact of the active run."""
    import mlflow

    mlflow.log_dict(payload, artifact_file)


def log_text(text: str, artifact_file: str) -> None:
    """Log text (a config file, say) as an artifact of the active run."""
    import mlflow

    mlflow.log_text(text, artifact_file)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Tag the active run."""
    import mlflow

    mlflow.set_tags({k: str(v) for k, v in tags.items()})
