"""The command line: every command of DESIGN.md has a useful --help; the demo runs end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from forecasting import tracking
from forecasting.cli import main

COMMANDS = {
    "demo": ["--tracking-uri"],
    "train-demand": ["--sales", "--freq", "--horizon", "--forecast-out", "--tracking-uri"],
    "train-propensity": ["--transactions", "--cutoff", "--horizon-days", "--scores-out"],
    "build-predictor": ["--transactions", "--sales", "--inventory", "--name", "--alias"],
    "score": ["--model", "--sales", "--inventory", "--output"],
    "simulate": ["--sales", "--inventory"],
    "link-customers": ["--identities", "--output", "--engine", "--threshold"],
    "ui": ["--port", "--tracking-uri"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_design_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in COMMANDS[command]:
        assert option in text


def test_missing_required_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train-demand", "--sales", "x.csv"])
    assert info.value.code == 2
    assert "--freq" in capsys.readouterr().err


def test_demo_runs_end_to_end_and_logs_to_mlflow(tracking_uri: str, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    policy = tmp_path / "policy.toml"
    policy.write_text("service_level = 0.97\nhorizon_days = 21\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "forecasting.cli",
            "demo",
            "--n-skus",
            "60",
            "--n-days",
            "120",
            "--output-dir",
            str(out),
            "--policy",
            str(policy),
            "--tracking-uri",
            tracking_uri,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "forecasting demo: done" in proc.stdout
    assert "60 SKUs" in proc.stdout
    # it ends saying where the runs went, what it registered and how to look at them
    assert f"store: {tracking_uri}" in proc.stdout
    assert "elastic-sku-predictor v1" in proc.stdout and "demand-forecaster v1" in proc.stdout
    assert f"forecasting ui --tracking-uri {tracking_uri}" in proc.stdout.splitlines()[-1]
    sales = pd.read_parquet(out / "data" / "sales.parquet")
    assert sales["sku_id"].str.len().eq(5).all()
    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENTS["demo"]])
    assert len(runs) == 1
    run_id = runs["run_id"].iloc[0]
    assert runs["params.synthetic.n_skus"].iloc[0] == "60"
    assert runs["metrics.class_agreement_with_truth"].iloc[0] > 0.9
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "plots")}
    assert names == {"plots/adi_cv2.png"}
    # the policy file reached the predictor: its service level, and its horizon the demo's
    built = mlflow.search_runs(experiment_names=[tracking.EXPERIMENTS["predictor"]])
    assert built["params.policy.service_level"].iloc[0] == "0.97"
    assert built["params.policy.horizon_days"].iloc[0] == "21"


def test_sales_from_transactions_writes_the_sales_contract(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "tx.csv"
    src.write_text(
        "customer_id,sku_id,channel,ts,quantity\n"
        "01,0042,app,2024-01-01 09:00,2\n01,0042,app,2024-01-20 09:00,1\n"
    )
    out = tmp_path / "sales.parquet"
    assert (
        main(
            [
                "sales-from-transactions",
                "--transactions",
                str(src),
                "--freq",
                "W",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    sales = pd.read_parquet(out)
    assert sales["sku_id"].unique().tolist() == ["0042"]
    assert sales["y"].tolist() == [2.0, 0.0, 1.0]


def test_a_terminal_sees_a_progress_bar_and_quiet_turns_it_off(tmp_path: Path) -> None:
    """On a terminal the stages draw a bar on stderr; --quiet (a cron job's choice) draws
    none and logs nothing but warnings and errors."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    from forecasting.data.synthetic import generate_omnichannel

    sales = tmp_path / "sales.csv"
    generate_omnichannel(n_skus=5, n_days=60, seed=1, transactions=False).sales.to_csv(
        sales, index=False
    )

    def on_a_terminal(*extra: str) -> str:
        parent, child = pty.openpty()
        # a terminal of 24 rows and 100 columns (a new pty has none: nothing fits on it)
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        proc = subprocess.Popen(
            [sys.executable, "-m", "forecasting.cli", *extra, "validate", "--table", "sales",
             "sales.csv"],
            stdout=subprocess.DEVNULL, stderr=child, cwd=tmp_path,
        )  # fmt: skip
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
        os.close(parent)
        return b"".join(chunks).decode(errors="replace")

    shown = on_a_terminal()
    bar = re.search(r"read sales\.csv: +\d+step \[\d\d:\d\d", shown)
    assert bar is not None, shown  # drawn, then cleared when the stage ends
    assert re.search(r"INFO forecasting: read sales\.csv: \d+\.\d s", shown)
    assert on_a_terminal("--quiet").strip() == ""
