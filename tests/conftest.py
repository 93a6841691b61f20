"""Shared fixtures: a throw-away MLflow store, the shared real data, small synthetic worlds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from forecasting.data.synthetic import SyntheticData, generate_omnichannel

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FORECASTING_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite MLflow store for one test, also in $MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # MLflow's set_registry_uri also sets this variable for the whole process: an earlier
    # test's store would otherwise answer registry calls here and in every subprocess
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    return uri


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; required in CI, skipped elsewhere when absent."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATA} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{SHARED_DATA} not found")
    return SHARED_DATA


@pytest.fixture(scope="session")
def world() -> SyntheticData:
    """Two years of a small omnichannel world, with transactions."""
    return generate_omnichannel(n_skus=120, n_days=730, seed=7)
