"""The Spark engine on a real standalone cluster: a master and two one-core workers in
processes of their own (not local[*]); executors load the registered model from the
tracking store by its URI. Scoring (shuffled and partitioned input) and train-demand give
the pandas engine's results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from forecasting import tracking
from forecasting.data.layout import partition_sales
from forecasting.data.synthetic import generate_omnichannel
from forecasting.demand.config import DemandConfig
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig
from forecasting.serving import log_predictor_model

pytest.importorskip("pyspark")
pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "forecasting.cli"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=900)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from forecasting.scoring.standalone import StandaloneCluster

    # each worker on a CPU of its own where the machine has two: as on two machines
    pin = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2
    with StandaloneCluster(workers=2, cores=1, pin=pin) as running:
        yield running
    # stopped by their PIDs: nothing of the cluster is left
    import psutil

    assert not [p for p in running.pids if psutil.pid_exists(p)]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("cluster")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    world = generate_omnichannel(n_skus=30, n_days=200, seed=41)
    assert world.transactions is not None
    cfg = PredictorConfig(demand=DemandConfig(horizon=14, n_windows=2))
    predictor = ElasticSkuPredictor(cfg).fit(world.transactions, world.sales, world.skus)
    with tracking.start_run("predictor", "cluster-test", tracking_uri=uri):
        log_predictor_model(predictor, world.sales.head(60), "elastic-sku-predictor")
    paths = {"sales": folder / "sales.parquet", "inv": folder / "inventory.parquet"}
    world.sales.to_parquet(paths["sales"], index=False)
    world.inventory.to_parquet(paths["inv"], index=False)
    partition_sales(paths["sales"], folder / "by_sku", buckets=4)
    out = folder / "pandas.parquet"
    done = _cli("score", "--model", "models:/elastic-sku-predictor/1", "--sales",
                str(paths["sales"]), "--inventory", str(paths["inv"]), "--output", str(out),
                "--tracking-uri", uri)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return {**paths, "folder": folder / "by_sku", "uri": uri, "pandas": pd.read_parquet(out)}


def test_scoring_on_the_cluster_equals_pandas_shuffled_and_partitioned(
    cluster: Any, shop: dict[str, Any], tmp_path: Path
) -> None:
    want = shop["pandas"].sort_values("sku_id").reset_index(drop=True)
    for name in ("sales", "folder"):
        out = tmp_path / f"{name}.parquet"
        done = _cli("score", "--model", "models:/elastic-sku-predictor/1", "--sales",
                    str(shop[name]), "--inventory", str(shop["inv"]), "--output", str(out),
                    "--engine", "spark", "--spark-master", cluster.master_url,
                    "--tracking-uri", shop["uri"])  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        got = pd.read_parquet(out).sort_values("sku_id").reset_index(drop=True)
        assert len(got) == 30
        pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)
    # both ran as applications of the cluster, on executors of both workers
    state = cluster._state()
    apps = state["completedapps"]
    assert len(apps) >= 2 and all(app["cores"] == 2 for app in apps[-2:])


def test_train_demand_on_the_cluster_equals_pandas(
    cluster: Any, shop: dict[str, Any], tmp_path: Path
) -> None:
    forecasts = {}
    for engine in ("pandas", "spark"):
        out = tmp_path / f"{engine}.parquet"
        spark = ["--engine", "spark", "--spark-master", cluster.master_url]
        extra = spark if engine == "spark" else []
        done = _cli("train-demand", "--sales", str(shop["sales"]), "--freq", "D", "--horizon",
                    "7", "--n-windows", "2", "--no-lightgbm", "--forecast-out", str(out),
                    "--no-register", "--tracking-uri", shop["uri"], *extra)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        forecasts[engine] = pd.read_parquet(out).sort_values(["sku_id", "channel", "ds"])
    pd.testing.assert_frame_equal(
        forecasts["spark"].reset_index(drop=True),
        forecasts["pandas"].reset_index(drop=True),
        check_dtype=False,
        rtol=1e-4,
        atol=1e-4,  # Spark returns the models' columns as float32
    )


def test_a_model_not_in_the_registry_fails_in_one_line(
    cluster: Any, shop: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "never.parquet"
    done = _cli("score", "--model", "models:/elastic-sku-predictor/9", "--sales",
                str(shop["folder"]), "--output", str(out), "--engine", "spark",
                "--spark-master", cluster.master_url, "--tracking-uri", shop["uri"])  # fmt: skip
    assert done.returncode != 0
    # the JVM itself prints its incubator-module notice; everything else is the one line
    err = [x for x in done.stderr.strip().splitlines() if "incubator modules" not in x]
    assert len(err) == 1 and "elastic-sku-predictor" in err[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr and not out.exists()


TASK_CPUS = """
import json, os, sys, time
from forecasting.scoring.spark import spark_session
spark = spark_session(sys.argv[1], "cpus")
def cpus(_):
    time.sleep(1)  # long enough for both executors to take tasks
    return os.getpid(), sorted(os.sched_getaffinity(0))
print(json.dumps(spark.sparkContext.parallelize(range(12), 12).map(cpus).collect()))
spark.stop()
"""


def test_pinned_workers_run_their_tasks_on_cpus_of_their_own(cluster: Any) -> None:
    import psutil

    if not cluster.pin:
        pytest.skip("the machine has fewer than two CPUs to pin workers to")
    master, *workers = [psutil.Process(pid) for pid in cluster.pids]
    assert len(master.cpu_affinity()) == len(os.sched_getaffinity(0))  # the master is free
    assert sorted(len(w.cpu_affinity()) for w in workers) == [1, 1]
    assert len({tuple(w.cpu_affinity()) for w in workers}) == 2
    done = subprocess.run([sys.executable, "-c", TASK_CPUS, cluster.master_url],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    tasks = json.loads(done.stdout.strip().splitlines()[-1])
    # every task's Python ran on one CPU, that of its worker; both workers took tasks
    assert all(len(cpus) == 1 for _, cpus in tasks), tasks
    assert {cpus[0] for _, cpus in tasks} == {w.cpu_affinity()[0] for w in workers}, tasks


def test_pinning_more_worker_cores_than_the_machine_has_fails_before_starting() -> None:
    from forecasting.errors import ForecastingError
    from forecasting.scoring.standalone import StandaloneCluster

    too_many = len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else 2
    cluster = StandaloneCluster(workers=too_many, cores=1, pin=True)
    with pytest.raises(ForecastingError, match=r"pin|Linux"):
        cluster.__enter__()
    assert cluster.pids == []  # nothing was started
