"""A Spark standalone cluster on this machine (extra ``[spark]``): a master and workers as
separate JVM processes, started with the pyspark package's own launcher and bound to
127.0.0.1, for tests, benchmarks and trying the Spark engine the way a cluster runs it
(executors in processes of their own, not the driver's JVM as with ``local[*]``).

    with StandaloneCluster(workers=2, cores=1) as cluster:
        spark = spark_session(cluster.master_url)

The processes are stopped by their PIDs when the block ends, even on an error; a cluster
that does not come up in ``timeout`` seconds is stopped and reported in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from forecasting.errors import ForecastingError

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class StandaloneCluster:
    """``workers`` Spark workers of ``cores`` cores and ``memory`` each, and their master.

    ``pin``: each worker (and the executors and Python workers it starts) runs on its own
    ``cores`` CPUs of this machine (Linux), as a worker on a machine of its own would; the
    master and the driver stay free. Without it ``--cores`` limits a worker's task slots,
    not the CPUs its processes use."""

    def __init__(
        self,
        workers: int = 2,
        cores: int = 1,
        memory: str = "2g",
        timeout: float = 90.0,
        pin: bool = False,
    ) -> None:
        self.workers = workers
        self.cores = cores
        self.memory = memory
        self.timeout = timeout
        self.pin = pin

    def __enter__(self) -> StandaloneCluster:
        from forecasting.scoring.spark import require_pyspark

        pyspark = require_pyspark()
        self.home_ = Path(pyspark.__file__).parent
        self.dir_ = Path(tempfile.mkdtemp(prefix="forecasting-spark-"))
        self.port_, self.ui_port_ = free_port(), free_port()
        self.master_url = f"spark://{HOST}:{self.port_}"
        self.processes_: list[subprocess.Popen[bytes]] = []
        try:
            cpus = self._cpu_sets()  # checked before anything starts
            self._start(MASTER, "--host", HOST, "--port", str(self.port_),
                        "--webui-port", str(self.ui_port_))  # fmt: skip
            self._wait(lambda: self._state() is not None, "the master")
            for i in range(self.workers):
                self._start(WORKER, "--host", HOST, "--cores", str(self.cores), "--memory",
                            self.memory, "--webui-port", str(free_port()), "--work-dir",
                            str(self.dir_ / "work"), self.master_url, cpus=cpus[i])  # fmt: skip
            self._wait(lambda: self.alive_workers() >= self.workers, f"{self.workers} workers")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in getattr(self, "processes_", [])]

    def alive_workers(self) -> int:
        state = self._state()
        return sum(w.get("state") == "ALIVE" for w in (state or {}).get("workers", []))

    def stop(self) -> None:
        """Stop every process of the cluster (its process group: the JVM and what it
        started), then remove its folder."""
        for p in reversed(getattr(self, "processes_", [])):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for p in getattr(self, "processes_", []):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        if hasattr(self, "dir_"):
            shutil.rmtree(self.dir_, ignore_errors=True)

    def _cpu_sets(self) -> list[set[int] | None]:
        """The CPUs each worker is pinned to (None: not pinned)."""
        if not self.pin:
            return [None] * self.workers
        if not hasattr(os, "sched_setaffinity"):
            raise ForecastingError("pinning Spark workers to CPUs needs Linux")
        cpus = sorted(os.sched_getaffinity(0))
        if self.workers * self.cores > len(cpus):
            raise ForecastingError(
                f"cannot pin {self.workers} workers of {self.cores} cores each to "
                f"{len(cpus)} CPUs: give fewer workers or cores, or pin=False"
            )
        return [set(cpus[i * self.cores : (i + 1) * self.cores]) for i in range(self.workers)]

    def _start(self, cls: str, *args: str, cpus: set[int] | None = None) -> None:
        env = {
            **os.environ,
            "SPARK_HOME": str(self.home_),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_LOG_DIR": str(self.dir_ / "logs"),
            "SPARK_WORKER_DIR": str(self.dir_ / "work"),
            "SPARK_NO_DAEMONIZE": "1",
            "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        }
        name = f"{cls.rsplit('.', 1)[1].lower()}-{len(self.processes_)}.log"
        with (self.dir_ / name).open("wb") as log:  # the child keeps its own handle
            self.processes_.append(
                subprocess.Popen(
                    [str(self.home_ / "bin" / "spark-class"), cls, *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stopped as one
                    # what it starts inherits the CPUs (executors, their Python workers)
                    preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
                )
            )

    def _state(self) -> dict[str, Any] | None:
        """The master's JSON status page (None while it is not up)."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.ui_port_}/json/", timeout=2) as r:
                return dict(json.loads(r.read()))
        except (OSError, ValueError):
            return None

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not ready():
            dead = [p for p in self.processes_ if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = sorted(self.dir_.glob("*.log"))
                tail = (
                    logs[-1].read_text(errors="replace").strip().splitlines()[-1:] if logs else []
                )
                why = "a process exited" if dead else f"not up after {self.timeout:.0f} s"
                raise ForecastingError(
                    f"Spark standalone cluster: {what} did not start ({why}); "
                    f"last log line: {tail[-1] if tail else '(none)'}"
                )
            time.sleep(0.5)
