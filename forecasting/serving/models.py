"""Logging the fitted models as MLflow pyfunc models (lean artifacts: native LightGBM
files, Parquet tables, JSON configs) and loading the predictor back."""

from __future__ import annotations

import tempfile
import warnings
from contextlib import nullcontext
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from packaging.requirements import Requirement

from forecasting.errors import FallbackWarning, ForecastingError
from forecasting.periods import training_period
from forecasting.predictor import ElasticSkuPredictor
from forecasting.serving.signatures import (
    demand_signature,
    predictor_signature,
    propensity_signature,
)
from forecasting.tracking import store_lock

#: The package folder, bundled with every model (``code_paths``) so that it loads anywhere.
PACKAGE_DIR = Path(__file__).resolve().parent.parent


@cache
def model_requirements() -> tuple[str, ...] | None:
    """The pip requirements of every logged model: the package's own dependencies (not its
    extras), pinned to the versions installed here.

    Written out rather than left to MLflow's inference, which imports the model in a
    subprocess (about 10 s a model) and still gets it wrong: it lists ``forecasting``
    itself, which no index serves (the code travels in the model's ``code_paths``), and
    misses ``lightgbm``, which the demand model needs. ``None`` (MLflow infers, with a
    warning) when the package is not installed, e.g. run from a bare source tree."""
    try:
        declared = metadata.requires("forecasting") or []
    except metadata.PackageNotFoundError:
        return None
    pins = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's, or another platform's
        try:
            pins.append(f"{requirement.name}=={metadata.version(requirement.name)}")
        except metadata.PackageNotFoundError:
            pins.append(f"{requirement.name}{requirement.specifier}")
    return tuple(pins)


def sales_input_example(sales: pd.DataFrame, periods: int, n_series: int = 2) -> pd.DataFrame:
    """The latest ``periods`` rows of the first ``n_series`` series of the training sales:
    the model's input example, in the user's own columns and dtypes."""
    keys = sales[["sku_id", "channel"]].drop_duplicates().head(n_series)
    rows = sales.merge(keys.astype(object), on=["sku_id", "channel"])
    rows = (
        rows.sort_values(["sku_id", "channel", "ds"]).groupby(["sku_id", "channel"]).tail(periods)
    )
    out = rows.reset_index(drop=True)
    for col in ("sku_id", "channel"):
        out[col] = out[col].astype(str)
    return out


def log_demand_model(
    forecaster: Any,
    input_example: pd.DataFrame,
    registered_model_name: str | None = None,
    name: str = "demand-forecaster",
) -> Any:
    """Log the fitted forecaster as a pyfunc model in the active run (and register it)."""
    return _log_saved(
        forecaster,
        "forecaster",
        "demand_model_code.py",
        name,
        demand_signature(forecaster),
        input_example,
        registered_model_name,
    )


def log_propensity_model(
    model: Any, input_example: pd.DataFrame, registered_model_name: str | None = None
) -> Any:
    """Log the fitted propensity model as a pyfunc in the active run (and register it)."""
    return _log_saved(
        model,
        "propensity",
        "propensity_model_code.py",
        "repurchase-propensity",
        propensity_signature(),
        input_example,
        registered_model_name,
    )


def log_predictor_model(
    predictor: Any, input_example: pd.DataFrame, registered_model_name: str | None = None
) -> Any:
    """Log the elastic-SKU predictor as a pyfunc in the active run (and register it)."""
    return _log_saved(
        predictor,
        "predictor",
        "predictor_model_code.py",
        "elastic-sku-predictor",
        predictor_signature(predictor),
        input_example,
        registered_model_name,
    )


def _log_saved(
    obj: Any,
    artifact: str,
    code_file: str,
    name: str,
    signature: ModelSignature,
    input_example: pd.DataFrame,
    registered_model_name: str | None,
) -> Any:
    """Save ``obj`` (lean files) to a temporary folder and log it as a models-from-code
    pyfunc whose ``context.artifacts[artifact]`` is that folder."""
    uri = mlflow.get_tracking_uri()
    # one registration at a time on a local store: two new versions at once would race for
    # the next version number (a tracking server orders them itself)
    lock = store_lock(uri, "registry") if registered_model_name else nullcontext()
    requirements = model_requirements()
    if requirements is None:
        warnings.warn(
            "the forecasting package is not installed (no metadata): MLflow infers the "
            "model's requirements, slowly; `pip install -e .` writes them out",
            FallbackWarning,
            stacklevel=3,
        )
    with tempfile.TemporaryDirectory() as tmp, lock:
        folder = obj.save(Path(tmp) / artifact)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name(code_file)),
            artifacts={artifact: str(folder)},
            code_paths=[str(PACKAGE_DIR)],
            pip_requirements=list(requirements) if requirements is not None else None,
            signature=signature,
            input_example=input_example,
            registered_model_name=registered_model_name,
            metadata={f"data_{k}": v for k, v in training_period(obj).items()},
        )


def load_predictor(uri: str) -> ElasticSkuPredictor:
    """The `ElasticSkuPredictor` inside a logged ``elastic-sku-predictor`` pyfunc."""
    from mlflow.exceptions import MlflowException

    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise ForecastingError(f"cannot load {uri}: {_first_line(exc)}") from None
    except Exception as exc:  # a truncated or edited file among the model's artifacts
        raise ForecastingError(
            f"model artifact of {uri} is unreadable ({type(exc).__name__}: {_first_line(exc)})"
            "; re-register the model"
        ) from None
    inner = model.unwrap_python_model()
    predictor = getattr(inner, "predictor", None)
    if not isinstance(predictor, ElasticSkuPredictor):
        raise ForecastingError(f"{uri} is not an elastic-sku-predictor model")
    return predictor


def check_model(uri: str) -> None:
    """Fail in one line when ``uri`` names no logged model (its MLmodel file only): before a
    job whose workers each load it, every task of every executor would fail its retries."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow.models.get_model_info(uri)
    except (MlflowException, OSError) as exc:
        raise ForecastingError(f"cannot load {uri}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def load_pyfunc(uri: str) -> Any:
    """``mlflow.pyfunc.load_model(uri)`` as a registry consumer would load it."""
    return mlflow.pyfunc.load_model(uri)
