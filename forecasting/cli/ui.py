"""``forecasting ui``: MLflow's UI on the project's store, bound to 127.0.0.1."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from typing import Any

from forecasting import tracking
from forecasting.errors import ForecastingError


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ui",
        parents=parents,
        help="open MLflow's UI on the project's store (the one every command uses)",
        description="Start MLflow's UI on the store the other commands write to (--tracking-uri, "
        "else $MLFLOW_TRACKING_URI, else mlflow/mlflow.db at the project root), bound to "
        "127.0.0.1, and print its address. Ctrl-C stops it.",
    )
    p.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000)")
    p.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    if uri.startswith(("http://", "https://")):
        print(f"the store is a tracking server already: open {uri}")
        return 0
    uri = tracking.configure(uri)  # a fresh store is created (and migrated) once, here
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError:
            raise ForecastingError(
                f"port {args.port} on 127.0.0.1 is taken (another UI?); choose one with --port"
            ) from None
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", uri,
        "--host", "127.0.0.1", "--port", str(args.port), "--workers", "1",
    ]  # fmt: skip
    root = tracking.artifact_root(uri)
    if root is not None:  # experiments made in the UI keep their artifacts beside the store
        command += ["--default-artifact-root", root.as_uri()]
    print(f"MLflow UI for {uri}\n  http://127.0.0.1:{args.port}  (Ctrl-C to stop)", flush=True)
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        return server.wait()
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
