"""Where the tracking store is: the URI, found the same way from the CLI, the tests and the
notebooks, and the experiments of each pipeline stage.

The tracking URI is, in this order: the ``--tracking-uri`` / ``tracking_uri`` argument,
``$MLFLOW_TRACKING_URI``, else the SQLite store ``mlflow/mlflow.db`` under the project root
with artifacts in ``mlflow/artifacts/``, as absolute paths.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Experiment names, one per pipeline stage.
EXPERIMENTS = {
    "demand": "forecasting-demand",
    "propensity": "forecasting-propensity",
    "predictor": "forecasting-predictor",
    "simulation": "forecasting-simulation",
    "identity": "forecasting-identity",
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
    checkout = Path(__file__).resolve().parents[2]  # forecasting/tracking/store.py
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
    """Point MLflow (tracking and registry) at the resolved store and return its URI. A new
    SQLite store is created and migrated by one process at a time (`store_lock`): two jobs
    starting together on a fresh store would otherwise both migrate it and leave it broken.
    """
    import mlflow

    uri = resolve_tracking_uri(tracking_uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith("sqlite:///") and uri not in _READY:
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        with store_lock(uri):
            mlflow.MlflowClient(uri, uri).search_experiments(max_results=1)  # creates it
        _READY.add(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for noisy in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return uri


#: SQLite stores this process has created or opened (initialised once per process).
_READY: set[str] = set()
#: Seconds to wait for another process holding a store's lock.
LOCK_TIMEOUT = 600.0


@contextmanager
def store_lock(tracking_uri: str, what: str = "store") -> Iterator[None]:
    """An exclusive lock on a local SQLite store (a lock file beside the database) while
    the store is created, an experiment is created or an alias is compared and moved; a
    no-op for a tracking server (the server orders its own writes)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    from filelock import FileLock, Timeout

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(db.with_name(f"{db.name}.{what}.lock")), timeout=LOCK_TIMEOUT)
    try:
        with lock:
            yield
    except Timeout:
        raise TimeoutError(
            f"another process has held the lock on {db} for {LOCK_TIMEOUT:.0f} s"
        ) from None


#: Seconds a tracking server gets to answer the first call of a job.
REACH_TIMEOUT = 5.0


def check_reachable(tracking_uri: str | None = None, timeout: float = REACH_TIMEOUT) -> str:
    """The resolved URI, after a tracking server at it answered its health check within
    ``timeout`` seconds (a local store needs no check). Raises `ConnectionError` naming the
    URI, so a job that needs the server stops in seconds rather than after its training."""
    import urllib.error
    import urllib.request

    uri = resolve_tracking_uri(tracking_uri)
    if not uri.startswith(("http://", "https://")):
        return uri
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as answer:
            if answer.status == 200:
                return uri
            why = f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        why = f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        why = str(getattr(exc, "reason", exc)) or type(exc).__name__
    raise ConnectionError(
        f"the tracking server {uri} did not answer within {timeout:.0f} s ({why}): start it, "
        "or give another --tracking-uri; nothing was done"
    )


def get_or_create_experiment(name: str, tracking_uri: str | None = None) -> str:
    """The experiment's ID, creating it (with artifacts under the store's folder) if needed;
    two processes creating it at once get the same experiment."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = configure(tracking_uri)
    client = mlflow.MlflowClient(uri, uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    root = artifact_root(uri)
    location = (root / name).as_uri() if root is not None else None
    with store_lock(uri):
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException:  # created meanwhile by another process (a server's store)
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)


def environment_error(exc: Exception) -> str | None:
    """One line for what the environment did to a job (the store, the network, the disk,
    a lock held elsewhere); None for anything else, which is a bug and keeps its traceback.
    """
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        first = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else ""
        if "timed out" in first.lower() or "max retries" in first.lower():
            return f"the tracking server did not answer in time: {first[:300]}"
        return f"MLflow: {first[:300]}"
    if isinstance(exc, (TimeoutError, ConnectionError, OSError)):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None
