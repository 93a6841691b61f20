"""The model registry: aliases and version tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forecasting.tracking.store import configure


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


def version_tags(name: str, version: str | int, tracking_uri: str | None = None) -> dict[str, str]:
    """The tags of a registered model version."""
    import mlflow

    uri = configure(tracking_uri)
    return dict(mlflow.MlflowClient(uri, uri).get_model_version(name, str(version)).tags)


def set_version_tags(
    name: str, version: str | int, tags: Mapping[str, Any], tracking_uri: str | None = None
) -> None:
    """Tag a registered model version (values as text)."""
    import mlflow

    uri = configure(tracking_uri)
    client = mlflow.MlflowClient(uri, uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


def describe_version(
    name: str, version: str | int, text: str, tracking_uri: str | None = None
) -> None:
    """Set a registered model version's description (markdown, shown on its page in the UI)."""
    import mlflow

    uri = configure(tracking_uri)
    mlflow.MlflowClient(uri, uri).update_model_version(name, str(version), description=text)
