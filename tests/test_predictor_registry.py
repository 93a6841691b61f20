"""build-predictor and score through a real MLflow registry, with the validation gate."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from forecasting import tracking
from forecasting.cli import main
from forecasting.data.contracts import INVENTORY, SALES, validate
from forecasting.data.synthetic import generate_omnichannel
from forecasting.policy.decide import OUTPUT_COLUMNS, with_stock

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shop")
    world = generate_omnichannel(n_skus=40, n_days=240, seed=31)
    assert world.transactions is not None
    paths = {
        "tx": folder / "tx.parquet",
        "sales": folder / "sales.csv",
        "inv": folder / "inventory.csv",
        "skus": folder / "skus.csv",
    }
    world.transactions.to_parquet(paths["tx"])
    world.sales.to_csv(paths["sales"], index=False)
    world.inventory.to_csv(paths["inv"], index=False)
    world.skus.to_csv(paths["skus"], index=False)
    return paths


def build(files: dict[str, Path], *extra: str) -> int:
    return main(
        [
            "build-predictor",
            "--transactions",
            str(files["tx"]),
            "--sales",
            str(files["sales"]),
            "--inventory",
            str(files["inv"]),
            "--skus",
            str(files["skus"]),
            "--horizon",
            "14",
            *extra,
        ]
    )


def test_build_gate_and_score_from_another_process(
    files: dict[str, Path], tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build(files) == 0
    assert "alias champion -> v1" in capsys.readouterr().out
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    tags = client.get_model_version(tracking.PREDICTOR_MODEL, "1").tags
    assert tags["validation"] == "pass: no champion yet"
    assert float(tags["backtest_rmsse"]) > 0
    # its papers: what it learned from and which code trained it, on the version's page
    sales = pd.read_csv(files["sales"], dtype={"sku_id": str}, parse_dates=["ds"])
    assert tags["data_n_skus"] == "40"
    assert tags["data_channels"] == ", ".join(sorted(sales["channel"].unique()))
    assert (tags["data_start"], tags["data_end"]) == (
        str(sales["ds"].min().date()),
        str(sales["ds"].max().date()),
    )
    assert tags["trained_with"].startswith("forecasting 0.1.0")
    version = client.get_model_version(tracking.PREDICTOR_MODEL, "1")
    assert "## Trained on" in version.description and "## Validation gate" in version.description
    for artifact in ("model_card.md", "plots/decisions.png"):
        got = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=artifact, dst_path=str(tmp_path / "card")
        )
        assert Path(got).stat().st_size > 0
    assert "40 SKUs" in (tmp_path / "card" / "model_card.md").read_text()
    # the same files again: the champion learned every day of them, so nothing unseen is
    # left to judge the two on; not promoted, and the verdict says why
    assert build(files) == 0
    out = capsys.readouterr().out
    assert "gate: fail vs v1: not compared" in out and "nothing unseen" in out
    assert tracking.alias_version(tracking.PREDICTOR_MODEL, "champion") == "1"
    assert (
        client.get_model_version(tracking.PREDICTOR_MODEL, "2")
        .tags["validation"]
        .startswith("fail")
    )
    # a registry consumer in a separate process scores a file in the sales contract
    decisions = tmp_path / "decisions.parquet"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "forecasting.cli",
            "score",
            "--model",
            "models:/elastic-sku-predictor@champion",
            "--sales",
            str(files["sales"]),
            "--inventory",
            str(files["inv"]),
            "--output",
            str(decisions),
            "--chunk-size",
            "15",
            "--rows-per-part",
            "5000",  # the sales stream through several parts of whole SKUs
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
    )
    assert proc.returncode == 0, proc.stderr
    assert "scored 40 SKUs" in proc.stderr
    got = pd.read_parquet(decisions)
    assert list(got.columns) == OUTPUT_COLUMNS
    assert got["sku_id"].str.len().eq(5).all() and got["sku_id"].is_unique
    assert got["weeks_of_cover"].notna().all()
    loaded = mlflow.pyfunc.load_model("models:/elastic-sku-predictor@champion")
    sales = pd.read_csv(files["sales"], dtype={"sku_id": str})
    # the command's streamed parts give what the pyfunc gives on the whole table
    inventory = validate(pd.read_csv(files["inv"], dtype={"sku_id": str}), INVENTORY)
    whole = loaded.predict(with_stock(validate(sales, SALES), inventory))
    pd.testing.assert_frame_equal(
        got.sort_values("sku_id", ignore_index=True),
        whole.sort_values("sku_id", ignore_index=True),
        check_dtype=False,
    )
    # stock known for some SKUs only: the others are scored without it
    some = tmp_path / "some_stock.csv"
    inventory[inventory["sku_id"] < got["sku_id"].iloc[20]].to_csv(some, index=False)
    args = ["--inventory", str(some), "--output", str(tmp_path / "partial.parquet")]
    args += ["--jobs", "1"]  # in this process (the run above used a worker per core)
    again = subprocess.run(
        [sys.executable, "-m", "forecasting.cli", "score", "--model",
         "models:/elastic-sku-predictor@champion", "--sales", str(files["sales"]), *args],
        capture_output=True, text=True, check=False,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    partial = pd.read_parquet(tmp_path / "partial.parquet")
    assert partial["weeks_of_cover"].notna().sum() == 20
    cheap = loaded.predict(sales, params={"horizon": 14, "holding_rate": 0.01})
    dear = loaded.predict(sales, params={"horizon": 14, "holding_rate": 2.0})
    assert (dear["stocking"] == "tiered").sum() >= (cheap["stocking"] == "tiered").sum()
    assert dear["expected_cost_unified"].sum() > cheap["expected_cost_unified"].sum()


def test_score_reports_a_missing_model_in_one_line(
    files: dict[str, Path], tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "score",
            "--model",
            "models:/nope@champion",
            "--sales",
            str(files["sales"]),
            "--output",
            str(tmp_path / "d.csv"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot load models:/nope@champion" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d.csv").exists()


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A world whose inventory snapshot comes 14 days before the end of the sales."""
    folder = tmp_path_factory.mktemp("held_out")
    world = generate_omnichannel(n_skus=40, n_days=254, seed=32, holdout_days=14)
    assert world.transactions is not None
    snapshot = world.inventory["ds"].max()
    paths = {
        "tx": folder / "tx.parquet",
        "sales": folder / "sales.parquet",
        "history": folder / "history.parquet",
        "inv": folder / "inventory.csv",
        "skus": folder / "skus.csv",
    }
    world.transactions[world.transactions["ts"] <= snapshot + pd.Timedelta(days=1)].to_parquet(
        paths["tx"]
    )
    world.sales.to_parquet(paths["sales"])
    world.sales[world.sales["ds"] <= snapshot].to_parquet(paths["history"])
    world.inventory.to_csv(paths["inv"], index=False)
    world.skus.to_csv(paths["skus"], index=False)
    return paths


def test_simulate_serve_and_predict_the_champion(
    held_out: dict[str, Path], tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {**held_out, "sales": held_out["history"]}
    assert build(paths) == 0
    capsys.readouterr()
    # simulate: the champion's decisions vs all-unified over the 14 held-out days
    per_sku = tmp_path / "per_sku.parquet"
    args = ["simulate", "--sales", str(held_out["sales"]), "--inventory", str(held_out["inv"])]
    assert main([*args, "--holdout", "14", "--output", str(per_sku)]) == 0
    out = capsys.readouterr().out
    assert "predictor: fill rate" in out and "all_unified: fill rate" in out
    got = pd.read_parquet(per_sku)
    assert set(got["policy"]) == {"predictor", "all_unified"} and got["sku_id"].nunique() == 40
    demand = got.groupby("policy")["demand_units"].sum()
    assert demand["predictor"] == demand["all_unified"] > 0
    assert (got["served_units"] <= got["demand_units"] + 1e-9).all()
    runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENTS["simulation"]])
    assert runs["metrics.predictor_fill_rate"].between(0, 1).all()
    # the same replay under another network, from a policy file over the model's policy
    policy = tmp_path / "stores.toml"
    policy.write_text("[network]\nstore = 400\napp = 3\nmini_program = 3\nmarketplace = 2\n")
    assert main([*args, "--holdout", "14", "--policy", str(policy)]) == 0
    capsys.readouterr()
    latest = mlflow.search_runs(experiment_names=[tracking.EXPERIMENTS["simulation"]])
    run = latest.sort_values("start_time").iloc[-1]
    assert "400" in run["params.policy.nodes_per_channel"]
    assert run["params.policy.service_level"] == runs["params.policy.service_level"].iloc[0]
    assert mlflow.artifacts.load_text(f"runs:/{run['run_id']}/policy_file.toml") == (
        policy.read_text()
    )
    client = mlflow.MlflowClient()
    files = {a.path for a in client.list_artifacts(runs["run_id"].iloc[0])}
    assert {"simulation_inventory.png", "simulation_per_sku.parquet"} <= files
    # a snapshot taken after the held-out days start is refused in one line
    assert main([*args, "--holdout", "30"]) == 1
    err = capsys.readouterr().err
    assert "first held-out period" in err and len(err.strip().splitlines()) == 1
    # the model knows its training days: its version, metadata and runs say them, and a
    # replay of days it learned from is refused unless asked for, then said aloud
    history = pd.read_parquet(held_out["history"])
    first, last = str(history["ds"].min().date()), str(history["ds"].max().date())
    version = client.get_model_version_by_alias("elastic-sku-predictor", "champion")
    assert (version.tags["data_start"], version.tags["data_end"]) == (first, last)
    info = mlflow.models.get_model_info("models:/elastic-sku-predictor@champion")
    assert info.metadata == {"data_start": first, "data_end": last}
    inside = ["simulate", "--sales", str(held_out["history"]), "--holdout", "14"]
    assert main(inside) == 1
    err = capsys.readouterr().err
    assert f"before {last}, the last day the model was trained on" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*inside, "--allow-in-sample"]) == 0
    assert "IN-SAMPLE" in capsys.readouterr().out
    runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENTS["simulation"]])
    assert set(runs["tags.in_sample"]) == {"true", "false"}

    history = history[history["sku_id"].isin(history["sku_id"].unique()[:5])]
    expected = mlflow.pyfunc.load_model("models:/elastic-sku-predictor@champion").predict(
        history, params={"horizon": 14}
    )
    # the serving command runs `uvicorn` from PATH: this interpreter's scripts come first
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    payload = {
        "dataframe_split": json.loads(
            history.assign(ds=history["ds"].dt.strftime("%Y-%m-%d")).to_json(
                orient="split", index=False
            )
        ),
        "params": {"horizon": 14},
    }
    request = tmp_path / "request.json"
    request.write_text(json.dumps(payload))
    # mlflow models predict, in this environment
    predicted = tmp_path / "predicted.json"
    proc = subprocess.run(
        [
            sys.executable, "-m", "mlflow", "models", "predict",
            "-m", "models:/elastic-sku-predictor@champion",
            "-i", str(request), "-t", "json", "-o", str(predicted), "--env-manager", "local",
        ],
        capture_output=True, text=True, check=False, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    _same_decisions(pd.DataFrame(json.loads(predicted.read_text())["predictions"]), expected)
    # mlflow models serve on 127.0.0.1, then POST /invocations
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "models", "serve",
            "-m", "models:/elastic-sku-predictor@champion",
            "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        answer = _post_when_up(base, request.read_bytes(), server)
        _same_decisions(pd.DataFrame(answer["predictions"]), expected)
        # mistakes are a 400 with one line naming them, no stack trace
        for change, named in (
            ({"params": {"horizon": 0}}, "param horizon=0"),
            ({"params": {"service_level": 1.5}}, "service_level = 1.5: must be in [0.5, 1)"),
            ({"dataframe_split": _repeated(payload["dataframe_split"])}, "repeat the key"),
        ):
            status, error = _post(base, json.dumps({**payload, **change}).encode())
            assert status == 400, error
            assert named in error["message"] and "\n" not in error["message"], error
            assert "stack_trace" not in error
    finally:
        server.terminate()
        server.wait(timeout=30)


def _repeated(split: dict[str, Any]) -> dict[str, Any]:
    return {**split, "data": [*split["data"], split["data"][0]]}


def _post(base: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{base}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as r:
            return r.status, _strict_json(r.read())
    except urllib.error.HTTPError as err:
        return err.code, _strict_json(err.read())


def _strict_json(body: bytes) -> dict[str, Any]:
    """JSON as most clients read it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"the response holds a bare {constant}")

    answer: dict[str, Any] = json.loads(body, parse_constant=refuse)
    return answer


def _post_when_up(base: str, body: bytes, server: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, (server.stderr.read() if server.stderr else "")[-2000:]
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
    status, answer = _post(base, body)
    assert status == 200, answer
    return answer


def _same_decisions(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == OUTPUT_COLUMNS
    got = got.assign(sku_id=got["sku_id"].astype(str)).sort_values("sku_id")
    for col in expected.columns[expected.dtypes == "float64"]:  # JSON null -> NaN
        got[col] = got[col].astype("float64")
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        expected.sort_values("sku_id").reset_index(drop=True),
        check_dtype=False,
        check_exact=False,
        rtol=1e-6,
    )
