"""An operator's day: outputs that would overwrite inputs, dates in other formats, two jobs
on one fresh store, killed jobs, a tracking server that is down or never answers, a
damaged model. Nothing lost, nothing hung, one line each."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import psutil
import pytest

from forecasting.data.synthetic import generate_omnichannel

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "forecasting.cli"]


def run(
    *args: str, uri: str | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    extra = ["--tracking-uri", uri] if uri else []
    return subprocess.run(
        [*CLI, *args, *extra], capture_output=True, text=True, check=False, timeout=timeout
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if "warning" not in ln]
    assert len(lines) == 1, proc.stderr[-3000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("operator")
    world = generate_omnichannel(n_skus=30, n_days=150, seed=5)
    assert world.transactions is not None
    paths = {"sales": folder / "sales.csv", "tx": folder / "tx.parquet"}
    world.sales.to_csv(paths["sales"], index=False)
    world.transactions.to_parquet(paths["tx"])
    return paths


@pytest.mark.parametrize("command", ["score", "train-demand", "simulate"])
def test_an_output_that_is_an_input_is_refused_and_the_input_untouched(
    shop: dict[str, Path], tmp_path: Path, command: str
) -> None:
    copy = tmp_path / "sales.csv"
    copy.write_bytes(shop["sales"].read_bytes())
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    args = {
        "score": ["score", "--model", "models:/x@champion", "--sales", str(copy), "--output"],
        "train-demand": [
            "train-demand",
            "--sales",
            str(copy),
            "--freq",
            "D",
            "--horizon",
            "7",
            "--forecast-out",
        ],
        "simulate": ["simulate", "--sales", str(copy), "--output"],
    }[command]
    # the same file by another spelling of its path
    proc = run(*args, str(tmp_path / "." / "sales.csv"), uri=uri)
    one_line_error(proc, "would overwrite the input --sales", "nothing was touched")
    assert copy.read_bytes() == shop["sales"].read_bytes()
    assert not (tmp_path / "store").exists()  # no store, no run


def test_outputs_get_the_usual_permissions_not_private_ones(tmp_path: Path) -> None:
    """Written through a temporary file (private by default) and renamed, an output still
    gets what the umask gives a new file, so other users and downstream jobs can read it."""
    from forecasting.data.io import write_table

    old = os.umask(0o022)
    try:
        for name in ("decisions.csv", "decisions.parquet"):
            out = write_table(pd.DataFrame({"sku_id": ["007"]}), tmp_path / name)
            assert out.stat().st_mode & 0o777 == 0o644, name
        os.umask(0o077)  # a private umask is kept as well
        out = write_table(pd.DataFrame({"sku_id": ["007"]}), tmp_path / "private.csv")
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_an_operators_thread_cap_reaches_every_lightgbm_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LightGBM's explicit thread count overrides OpenMP's environment; the package caps it by
    OMP_NUM_THREADS itself (two jobs on one machine must not each spin on every core)."""
    from forecasting.demand.boosting import make_mlf
    from forecasting.demand.config import DemandConfig
    from forecasting.propensity.model import PropensityConfig, PropensityModel

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert make_mlf(DemandConfig(n_jobs=2)).models["LightGBM"].n_jobs == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert make_mlf(DemandConfig(n_jobs=2)).models["LightGBM"].n_jobs == 1
    world = generate_omnichannel(n_skus=20, n_days=300, seed=5)
    tx = world.transactions
    assert tx is not None
    config = PropensityConfig(horizon_days=60, n_train_cutoffs=2, n_estimators=20)
    model = PropensityModel(config).fit(tx, tx["ts"].max() - pd.Timedelta(days=61))
    assert model.booster_.params["num_threads"] == 1


@pytest.mark.parametrize(
    ("where", "words"),
    [("folder", ["is a folder"]), ("under_a_file", ["is a file, not a folder"])],
)
def test_an_unwritable_output_fails_before_training(
    shop: dict[str, Path], tmp_path: Path, where: str, words: list[str]
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "folder" if where == "folder" else tmp_path / "afile" / "out.csv"
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    started = time.monotonic()
    proc = run("train-propensity", "--transactions", str(shop["tx"]), "--cutoff", "2024-04-01",
               "--horizon-days", "30", "--scores-out", str(out), uri=uri)  # fmt: skip
    one_line_error(proc, "--scores-out", *words)
    assert time.monotonic() - started < 30 and not (tmp_path / "store").exists()


def test_dates_are_iso_unless_their_format_is_named(tmp_path: Path) -> None:
    """A day-first file is refused with the rows and the option that reads it; named, it
    reads every row right (no day read as a month)."""
    days = pd.date_range("2024-08-01", periods=20)
    sales = pd.DataFrame({"sku_id": "00042", "channel": "app", "ds": days, "y": range(20)})
    path = tmp_path / "dmy.csv"
    sales.assign(ds=days.strftime("%d/%m/%Y")).to_csv(path, index=False)
    proc = run("validate", "--table", "sales", str(path))
    one_line_error(proc, "not an ISO date", "line 2", "--date-format")
    ok = run("validate", "--table", "sales", str(path), "--date-format", "%d/%m/%Y")
    assert ok.returncode == 0, ok.stderr
    assert "2024-08-01" in ok.stdout and "2024-08-20" in ok.stdout


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sku_id,channel,ds,y\n1,app,2024-01-01,inf\n", ["'y'", "not finite"]),
        ("sku_id,channel,ds,y\n1,app,2024-01-01,1e400\n", ["'y'", "not finite"]),
        ("sku_id,channel,ds,y\n1,app,9999-12-31,1\n", ["'ds'", "outside 1678..2261"]),
        ("sku_id,channel,ds,y\n1,app,1500-01-01,1\n", ["'ds'", "outside 1678..2261"]),
        ("sku_id,channel,ds,y,y\n1,app,2024-01-01,1,2\n", ["more than once"]),
        (
            "sku_id,channel,ds,y\n1,app,2024-01-01T10:00+08:00,1\n2,app,2024-01-01T10:00Z,1\n",
            ["mix time zones"],
        ),
    ],
)
def test_values_that_used_to_pass_or_crash_are_one_line(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(text)
    one_line_error(run("validate", "--table", "sales", str(path)), str(path), *words)


def test_a_utf16_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("sku_id,channel,ds,y\n1,app,2024-01-01,1\n", encoding="utf-16")
    one_line_error(run("validate", "--table", "sales", str(path)), str(path), "UTF-8")


def test_a_tracking_server_that_is_down_or_silent_stops_the_job_in_seconds(
    shop: dict[str, Path],
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        for uri in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{silent.getsockname()[1]}"):
            started = time.monotonic()
            proc = run("train-demand", "--sales", str(shop["sales"]), "--freq", "D",
                       "--horizon", "7", uri=uri)  # fmt: skip
            one_line_error(proc, f"the tracking server {uri} did not answer", "nothing was done")
            assert time.monotonic() - started < 30


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _workers(pid: int) -> list[psutil.Process]:
    found = []
    for child in _children(pid):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_two_jobs_on_a_fresh_store_then_a_killed_score_leaves_nothing(
    shop: dict[str, Path], tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    train = [*CLI, "train-demand", "--sales", str(shop["sales"]), "--freq", "D", "--horizon",
             "7", "--n-windows", "1", "--no-lightgbm", "--tracking-uri", uri]  # fmt: skip
    build = [*CLI, "build-predictor", "--transactions", str(shop["tx"]), "--sales",
             str(shop["sales"]), "--horizon", "7", "--tracking-uri", uri]  # fmt: skip
    for pair in ([train, train], [build, build]):
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in pair]  # fmt: skip
        outs = [p.communicate(timeout=1200) for p in procs]
        for p, (_, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err[-3000:]
    client = mlflow.MlflowClient(uri, uri)
    demand = client.get_experiment_by_name("forecasting-demand")
    assert demand is not None and len(client.search_runs([demand.experiment_id])) == 2
    found = client.search_model_versions("name='elastic-sku-predictor'")
    versions = {str(v.version): v for v in found}
    assert set(versions) == {"1", "2"}
    verdicts = sorted(v.tags["validation"] for v in versions.values())
    # one passed with no champion; the other was judged against it, never skipped
    assert verdicts[1] == "pass: no champion yet" and verdicts[0].startswith("fail vs v"), verdicts
    champion = client.get_model_version_by_alias("elastic-sku-predictor", "champion")
    assert champion.tags["validation"] == "pass: no champion yet"

    # kill -9 of a scoring job with workers: the workers follow within seconds; the next
    # run removes the dead job's parts folder
    big = tmp_path / "big.csv"
    sales = pd.read_csv(shop["sales"], dtype={"sku_id": str})
    copies = [sales.assign(sku_id=sales["sku_id"] + f"-{i}") for i in range(20)]
    pd.concat(copies).to_csv(big, index=False)
    out = tmp_path / "decisions.csv"
    score = [*CLI, "score", "--model", "models:/elastic-sku-predictor@champion", "--sales",
             str(big), "--output", str(out), "--jobs", "2", "--rows-per-part", "20000",
             "--tracking-uri", uri]  # fmt: skip
    for how in (signal.SIGKILL, signal.SIGTERM):
        job = subprocess.Popen(score, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while len(_workers(job.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        workers = _children(job.pid)  # the two workers and multiprocessing's tracker
        assert len(_workers(job.pid)) >= 2, "the workers never started"
        job.send_signal(how)
        _, err = job.communicate(timeout=120)
        if how == signal.SIGTERM:
            assert job.returncode == 130 and "interrupted" in err, err[-2000:]
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"{len(alive)} workers outlived the job ({how.name})"
        assert not out.exists() and not list(tmp_path.glob(".decisions.csv.*"))
    done = subprocess.run(score, capture_output=True, text=True, check=False, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    from forecasting.data.io import PARTS_ROOT

    dead = [d for d in PARTS_ROOT.glob("*-*") if d.name.split("-")[0] == str(job.pid)]
    assert not dead


def test_a_damaged_model_file_is_one_line(shop: dict[str, Path], tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    built = run("build-predictor", "--transactions", str(shop["tx"]), "--sales",
                str(shop["sales"]), "--horizon", "7", uri=uri)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    found: Any = list((tmp_path / "store" / "artifacts").rglob("predictor.json"))
    assert found
    for f in found:
        f.write_text(f.read_text()[:40])  # truncated
    proc = run("score", "--model", "models:/elastic-sku-predictor@champion", "--sales",
               str(shop["sales"]), "--output", str(tmp_path / "d.csv"), "--jobs", "1",
               uri=uri)  # fmt: skip
    one_line_error(proc, "unreadable", "re-register the model")
    assert not (tmp_path / "d.csv").exists()
    assert os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") is None  # set for the CLI only
