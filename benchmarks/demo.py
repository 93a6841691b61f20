"""How long the demo takes, as a new user runs it: ``forecasting demo`` in a fresh process
(imports included) on a temporary store, at the given sizes, on a quiet machine. The
stages' seconds are the demo's own summary; the README's figures come from here.

Run: python -m benchmarks.demo [--sizes 800x365 400x365]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import write_result

STAGES = (
    "seconds_demand",
    "seconds_propensity",
    "seconds_build_predictor",
    "seconds_score",
    "seconds_simulate",
)


def run_demo(n_skus: int, n_days: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        command = [
            sys.executable, "-m", "forecasting.cli", "demo", "--n-skus", str(n_skus),
            "--n-days", str(n_days), "--output-dir", str(Path(tmp) / "out"),
            "--tracking-uri", store,
        ]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = round(time.perf_counter() - started, 1)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        import mlflow

        runs = mlflow.MlflowClient(store).search_runs(
            [mlflow.MlflowClient(store).get_experiment_by_name("forecasting-demo").experiment_id]
        )
        metrics = runs[0].data.metrics
    return {
        "n_skus": n_skus,
        "n_days": n_days,
        "seconds_command": seconds,  # the process as a user waits for it, imports included
        **{k: metrics[k] for k in STAGES if k in metrics},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["800x365"], help="SKUsxdays")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        n_skus, n_days = (int(x) for x in size.split("x"))
        rows.append(run_demo(n_skus, n_days))
        print(json.dumps(rows[-1]), flush=True)
    write_result("demo", {"runs": rows, "note": "nothing else running on the machine"})


if __name__ == "__main__":
    main()
