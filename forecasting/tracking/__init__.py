"""The one place that talks to MLflow: tracking URI, experiments, runs, artifacts, aliases.

The tracking URI is, in this order: the ``--tracking-uri`` / ``tracking_uri`` argument,
``$MLFLOW_TRACKING_URI``, else the SQLite store ``mlflow/mlflow.db`` under the project root
with artifacts in ``mlflow/artifacts/``, as absolute paths, so the CLI, the tests and the
notebooks share one store whatever folder they start in.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

#: Experiment names, one per pipeline stage.
EXPERIMENTS = {
    "demand": "forecasting-demand",
    "propensity": "forecasting-propensity",
    "predictor": "forecasting-predictor",
    "simulation": "forecasting-simulation",
    "demo": "forecasting-demo",
}
#: Registered model names and the serving alias (DESIGN.md).
DEMAND_MODEL = "demand-forecaster"
PROPENSITY_MODEL = "repurchase-propensity"
PREDICTOR_MODEL = "elastic-sku-predictor"
SERVING_ALIAS = "champion"


def project_root() -> Path:
    """The project folder: ``$FORECASTING_HOME``, the source checkout, or the nearest parent of
    the working directory with a ``pyproject.toml`` naming ``forecasting``; else the working
    directory."""
    env = os.environ.get("FORECASTING_HOME")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if _is_project(checkout):
        return checkout
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_project(folder):
            return folder
    return cwd


def _is_project(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    try:
        return pyproject.is_file() and 'name = "forecasting"' in pyproject.read_text()
    except OSError:
        return False


def default_tracking_uri() -> str:
    """``sqlite:////<root>/mlflow/mlflow.db`` (absolute)."""
    return f"sqlite:///{project_root() / 'mlflow' / 'mlflow.db'}"


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The argument, else ``$MLFLOW_TRACKING_URI``, else `default_tracking_uri`."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def artifact_root(tracking_uri: str) -> Path | None:
    """Where artifacts of a SQLite store go: ``artifacts/`` beside the database file.

    ``None`` for a server (it decides) or another kind of store.
    """
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"
    return None


def configure(tracking_uri: str | None = None) -> str:
    """Point MLflow (tracking and registry) at the resolved store and return its URI."""
    import mlflow

    uri = resolve_tracking_uri(tracking_uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for noisy in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return uri


def get_or_create_experiment(name: str, tracking_uri: str | None = None) -> str:
    """The experiment's ID, creating it (with artifacts under the store's folder) if needed."""
    import mlflow

    uri = configure(tracking_uri)
    client = mlflow.MlflowClient(uri, uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    root = artifact_root(uri)
    location = (root / name).as_uri() if root is not None else None
    return str(client.create_experiment(name, artifact_location=location))


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


def set_alias(name: str, alias: str, version: str | int, tracking_uri: str | None = None) -> None:
    """Point ``models:/name@alias`` at ``version``."""
    import mlflow

    uri = configure(tracking_uri)
    mlflow.MlflowClient(uri, uri).set_registered_model_alias(name, alias, str(version))


def alias_version(name: str, alias: str, tracking_uri: str | None = None) -> str | None:
    """The version ``models:/name@alias`` points at, or ``None``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = configure(tracking_uri)
    try:
        return str(mlflow.MlflowClient(uri, uri).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None
