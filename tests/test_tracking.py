"""The tracking URI, experiments, artifacts and aliases on a real SQLite MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from forecasting import tracking

ROOT = Path(__file__).resolve().parent.parent


def test_uri_order_argument_then_env_then_project_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("FORECASTING_HOME", raising=False)
    assert tracking.resolve_tracking_uri() == f"sqlite:///{ROOT / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-env.db")
    assert tracking.resolve_tracking_uri() == "sqlite:///from-env.db"
    assert tracking.resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_default_store_is_the_same_from_any_folder(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "FORECASTING_HOME")
    }
    code = "from forecasting import tracking; print(tracking.resolve_tracking_uri())"
    uris = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for cwd in (ROOT, ROOT / "tests", tmp_path)
    }
    assert uris == {f"sqlite:///{ROOT / 'mlflow' / 'mlflow.db'}"}


def test_runs_log_params_tables_and_artifacts_beside_the_database(tracking_uri: str) -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        horizon: int = 28
        levels: tuple[int, ...] = (10, 50, 90)

    with tracking.start_run("demand", "unit-test") as run:
        tracking.log_config(Cfg())
        tracking.log_table(pd.DataFrame({"a": [1, 2]}), "tables/a.parquet")
    got = mlflow.get_run(run.info.run_id)
    assert got.data.params == {"config.horizon": "28", "config.levels": "(10, 50, 90)"}
    exp = mlflow.get_experiment(got.info.experiment_id)
    assert exp.name == tracking.EXPERIMENTS["demand"]
    db_dir = Path(tracking_uri.removeprefix("sqlite:///")).parent
    assert exp.artifact_location == (db_dir / "artifacts" / exp.name).as_uri()
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="tables/a.parquet"
    )
    assert pd.read_parquet(local)["a"].tolist() == [1, 2]
    assert (
        db_dir / "artifacts" / exp.name / run.info.run_id / "artifacts" / "config.json"
    ).is_file()


def test_aliases_move_between_registered_versions(tracking_uri: str, tmp_path: Path) -> None:
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    name = "unit-test-model"
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, source=tmp_path.as_uri())
    assert tracking.alias_version(name, "champion") is None
    tracking.set_alias(name, "champion", 1)
    assert tracking.alias_version(name, "champion") == "1"
    tracking.set_alias(name, "champion", 2)
    assert tracking.alias_version(name, "champion") == "2"


@pytest.mark.integration
def test_ui_serves_the_projects_store_on_localhost_and_stops_cleanly(
    tracking_uri: str, tmp_path: Path
) -> None:
    """`forecasting ui` shows the store the commands wrote to (runs and their artifacts),
    prints where, and a stop (SIGTERM, as Ctrl-C) leaves no server behind."""
    import json
    import signal
    import socket
    import time
    import urllib.request

    import psutil

    tracking.configure(tracking_uri)
    with tracking.start_run("demand", "ui-check"):
        tracking.log_text("hello", "note.txt")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "forecasting.cli", "ui", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        head = proc.stdout.readline() + proc.stdout.readline()
        assert tracking_uri in head and f"http://127.0.0.1:{port}" in head
        base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        deadline, found = time.monotonic() + 120, None
        while found is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/experiments/search?max_results=50") as r:
                    found = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert found is not None, "the UI did not answer within two minutes"
        names = {e["name"] for e in found["experiments"]}
        assert tracking.EXPERIMENTS["demand"] in names
        runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENTS["demand"]])
        run_id = runs["run_id"].iloc[0]
        url = f"http://127.0.0.1:{port}/get-artifact?path=note.txt&run_uuid={run_id}"
        with urllib.request.urlopen(url) as r:
            assert r.read() == b"hello"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "no server process"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 130
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive
