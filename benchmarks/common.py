"""Helpers shared by the benchmarks: timing, peak memory, writing results as JSON."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
_DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_DATA = Path(os.environ.get("FORECASTING_SHARED_DATA", _DEFAULT_DATA))


def peak_rss_mib() -> float:
    """Peak resident memory of this process and its finished children, MiB (Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


@contextmanager
def timed(into: dict[str, Any], key: str) -> Iterator[None]:
    """Store the wall time of the block in ``into[key]`` (seconds)."""
    start = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - start, 3)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the command that made it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "command": "python -m benchmarks." + name + " " + shlex.join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%d"),
        **payload,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path
