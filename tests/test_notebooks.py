"""The notebooks run top to bottom on a small slice of the real data."""

from __future__ import annotations

from pathlib import Path

import mlflow
import nbformat
import pytest
from nbclient import NotebookClient

from forecasting import tracking

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_executes(
    name: str, shared_data: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECASTING_NB_SERIES", "12")
    monkeypatch.setenv("FORECASTING_NB_CUSTOMERS", "600")
    monkeypatch.setenv("FORECASTING_NB_SKUS", "40")
    monkeypatch.setenv("FORECASTING_SHARED_DATA", str(shared_data))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    # the notebook's run landed in the store the environment points at, not the project's
    stage = {"01": "demand", "02": "propensity", "03": "predictor"}[name[:2]]
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENTS[stage])
    assert experiment is not None
    assert len(client.search_runs([experiment.experiment_id])) == 1
    # in their sandbox: registered under their own names, no production name or alias moved
    names = {m.name for m in client.search_registered_models()}
    production = {tracking.DEMAND_MODEL, tracking.PROPENSITY_MODEL, tracking.PREDICTOR_MODEL}
    assert names and not names & production, names
    assert all(name.startswith("notebook-") for name in names)
    for model in client.search_registered_models():
        assert tracking.SERVING_ALIAS not in model.aliases, model.name
