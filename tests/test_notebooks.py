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


def test_a_notebook_draws_its_progress_as_a_widget_and_a_script_as_text() -> None:
    """In a Jupyter kernel with ipywidgets (the ``notebooks`` extra) a stage's bar is a widget,
    not lines of text written into the notebook; the same code outside a kernel uses text."""
    code = (
        "from forecasting.progress import _bar_class, stage\n"
        "with stage('work', total=3) as st:\n"
        "    for _ in range(3):\n"
        "        st.advance()\n"
        "print(_bar_class().__module__)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0]["outputs"]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in kinds, outputs
    printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert printed.strip() == "tqdm.notebook", outputs
    assert not [o for o in outputs if o.get("name") == "stderr" and "work" in o["text"]]

    from forecasting.progress import _bar_class

    assert _bar_class().__module__ == "tqdm.std"  # pytest is no kernel
