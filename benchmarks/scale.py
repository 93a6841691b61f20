"""Scale benchmark: `train-demand` on M5-shaped generator data and `score` of up to 10^5
SKUs, wall time and peak memory of the whole process tree, pandas vs Spark.

Parts (``--part``, default all):

* ``train``: 30,490 SKU x channel series x 1,941 days (about 59 M rows, M5's shape) from
  `generate_omnichannel`, written in blocks of SKUs to Parquet; ``forecasting train-demand
  --freq D --horizon 28`` runs in a child process (its stage timings, selection and
  costly-model screening are read back from its MLflow run). Reference: plain statsforecast
  AutoETS fitted and forecast on a random sample of series in this process, its series per
  second scaled to every series (stated as such in the JSON). Accuracy: the default
  forecaster against plain AutoETS on the real M5 subset (`benchmarks.demand`'s split).
  ``--calendar``: with a calendar per channel (M5's events and one state's SNAP days laid
  on the world's days, 28 days past its end).
* ``score``: a predictor is trained on 2,000 SKUs and registered in a throw-away store;
  ``forecasting score`` scores sales files of growing size (4 channels, 365 days per SKU),
  each in a child process: SKUs per second and peak memory by size.
* ``spark``: the same predictor scores 20,000 SKUs with ``--engine spark --spark-master
  local[2]`` and with pandas on the same 2 cores.
* ``cluster`` (issue #18): 20,000 and 100,000 SKUs scored by pandas, Spark local[2] and a
  standalone cluster (`StandaloneCluster`) of one and of two one-core workers, from the
  file and from its ``forecasting partition`` folder; fixed overhead and per-row cost.
* ``histograms`` (issue #16): LightGBM's training time on `train-demand`'s own rows at
  M5's shape, its own histogram strategy against row-wise (the package's setting).
* ``overhead`` (issue #18): the fixed cost measured, not extrapolated: each engine on a
  partitioned world of 100 SKUs (twice); the floor of Spark itself on this machine (a bare
  ``local[2]`` session and one trivial job, nothing of ours); the pandas engine with
  ``--jobs 1`` and ``--jobs 2`` on the 20,000-SKU partitioned world; and two one-core
  standalone workers against one on that world, free and pinned to a CPU each
  (`StandaloneCluster(pin=True)`).

Run: python -m benchmarks.scale [--part train|score|spark|cluster|overhead|histograms]
[--score-sizes 10000 100000] [--calendar]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import RESULTS, SHARED_DATA, write_result
from forecasting.data.synthetic import generate_omnichannel

CACHE = Path(os.environ.get("FORECASTING_BENCH_CACHE", Path(tempfile.gettempdir()) / "fc-bench"))
M5_SERIES, M5_DAYS = 30_490, 1_941


def write_world(
    path: Path, n_series: int | None, n_skus: int | None, n_days: int, seed: int
) -> dict[str, Any]:
    """Generator data in blocks of 1,000 SKUs appended to one Parquet file (memory stays at
    one block); SKU ids continue across blocks. Stops at ``n_series`` or ``n_skus``."""
    if path.exists():
        meta = pq.ParquetFile(path).metadata
        return {"rows": meta.num_rows, "path": str(path), "cached": True}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = None
    series = skus = rows = 0
    block = 0
    inventory = []
    while (n_series is None or series < n_series) and (n_skus is None or skus < n_skus):
        world = generate_omnichannel(
            n_skus=1000, n_days=n_days, seed=seed + block, transactions=False, id_width=7
        )
        sales, inv = world.sales, world.inventory
        offset = block * 1000
        new_ids = {
            old: f"{int(old) + offset:07d}" for old in world.skus["sku_id"]
        }  # unique across blocks
        sales["sku_id"] = sales["sku_id"].map(new_ids)
        inv["sku_id"] = inv["sku_id"].map(new_ids)
        keys = sales[["sku_id", "channel"]].drop_duplicates()
        if n_series is not None and series + len(keys) > n_series:
            keys = keys.head(n_series - series)
            sales = sales.merge(keys, on=["sku_id", "channel"])
            inv = inv.merge(keys, on=["sku_id", "channel"])
        if n_skus is not None and skus + sales["sku_id"].nunique() > n_skus:
            keep = sorted(sales["sku_id"].unique())[: n_skus - skus]
            sales = sales[sales["sku_id"].isin(keep)]
            inv = inv[inv["sku_id"].isin(keep)]
        table = pa.Table.from_pandas(sales, preserve_index=False)
        table = table.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.timestamp("us") if f.name == "ds" else f.type)
                    for f in table.schema
                ]
            )
        )
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
        inventory.append(inv)
        series += sales.groupby(["sku_id", "channel"]).ngroups
        skus += sales["sku_id"].nunique()
        rows += len(sales)
        block += 1
    assert writer is not None
    writer.close()
    tmp.rename(path)
    inv_all = pd.concat(inventory, ignore_index=True)
    inv_all["ds"] = inv_all["ds"].astype("datetime64[us]")
    inv_all.to_parquet(path.with_name(path.stem + "_inventory.parquet"), index=False)
    return {"rows": rows, "series": series, "skus": skus, "path": str(path), "cached": False}


def shuffled_row_groups(src: Path, seed: int) -> Path:
    """A copy of ``src`` with its row groups in a random order: every SKU's rows are no
    longer together, so `score` takes its hash-partition pass (a file written in SKU order
    is cut into parts directly)."""
    dst = src.with_name(src.stem + "_shuffled.parquet")
    if dst.exists():
        return dst
    pf = pq.ParquetFile(src)
    order = np.random.default_rng(seed).permutation(pf.metadata.num_row_groups)
    tmp = dst.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, pf.schema_arrow) as writer:
        for i in order:
            writer.write_table(pf.read_row_group(int(i)))
    tmp.rename(dst)
    return dst


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall time and peak memory of its whole process tree, polled: RSS every
    0.2 s (pages shared by forked workers count once per process) and PSS every 2 s
    (shared pages split between the processes: the memory the tree really holds)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peak = peak_pss = 0
    polls = 0
    timeline: list[tuple[float, float]] = []  # (seconds, RSS MiB) every 5 s
    while proc.poll() is None:
        try:
            procs = [p for p in (parent, *parent.children(recursive=True)) if p.is_running()]
            rss = sum(p.memory_info().rss for p in procs)
            peak = max(peak, rss)
            if polls % 10 == 0:
                peak_pss = max(peak_pss, sum(p.memory_full_info().pss for p in procs))
            if polls % 25 == 0:
                timeline.append((round(time.perf_counter() - start, 1), round(rss / 2**20)))
        except psutil.Error:
            pass
        polls += 1
        time.sleep(0.2)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "peak_pss_mib": round(peak_pss / 2**20, 1),
        "rss_timeline_mib": timeline,
        "stdout": out.strip().splitlines()[-3:],
    }


def autoets_reference(path: Path, n_sample: int, seed: int) -> dict[str, Any]:
    """Plain AutoETS (season 7) fit + 28-day forecast on a random sample of series."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    df = pd.read_parquet(path, columns=["sku_id", "channel", "ds", "y"])
    keys = df[["sku_id", "channel"]].drop_duplicates()
    pick = keys.sample(n=min(n_sample, len(keys)), random_state=seed)
    df = df.merge(pick, on=["sku_id", "channel"])
    df["unique_id"] = df["sku_id"] + "|" + df["channel"]
    sf = StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=2)
    start = time.perf_counter()
    sf.forecast(df=df[["unique_id", "ds", "y"]], h=28)
    seconds = time.perf_counter() - start
    return {
        "sample_series": len(pick),
        "seconds_sample": round(seconds, 1),
        "series_per_second": round(len(pick) / seconds, 2),
    }


def _run_details(uri: str) -> dict[str, Any]:
    """Stage timings, selection and costly-model screening of the one demand run in ``uri``."""
    import json

    import mlflow

    from forecasting.tracking import EXPERIMENTS

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENTS["demand"])
    assert exp is not None
    run = client.search_runs([exp.experiment_id])[0]
    folder = Path(client.download_artifacts(run.info.run_id, ""))
    out: dict[str, Any] = {
        "seconds_by_stage": {
            k.removeprefix("seconds_"): v
            for k, v in run.data.metrics.items()
            if k.startswith("seconds_")
        },
        "backtest_rmsse": run.data.metrics.get("backtest_rmsse"),
        "selection": json.loads((folder / "selection.json").read_text()),
    }
    if (folder / "screening.json").exists():
        out["costly_screening"] = json.loads((folder / "screening.json").read_text())
    return out


def m5_accuracy() -> dict[str, Any]:
    """The default forecaster against plain AutoETS on the M5 subset (benchmarks.demand)."""
    from benchmarks.common import SHARED_DATA
    from benchmarks.demand import SALES_ONLY, evaluate
    from forecasting.data.adapters import load_m5
    from forecasting.demand.config import DemandConfig

    sales, _ = load_m5(SHARED_DATA / "m5_tiny")
    split = sales.loc[sales["d"] == "d_1885", "ds"].iloc[0]
    res = evaluate("m5_tiny", sales, split, DemandConfig(freq="D", horizon=28), SALES_ONLY, {})
    ours = res["final"]["rmsse"]
    autoets = res["models"]["AutoETS_baseline"]["rmsse"]
    return {
        "dataset": "m5_tiny (shared/data), train to d_1885, 28 test days",
        "n_series": res["n_series"],
        "rmsse_ours": ours,
        "rmsse_autoets": autoets,
        "rmsse_vs_autoets_pct": round(100 * (ours / autoets - 1), 2),
        "selection": res["selection"],
    }


def world_calendar(data: Path, out: Path) -> dict[str, Any]:
    """A calendar for the generated world, per channel, 28 days past its end: M5's events
    and each channel's SNAP days of one M5 state, day i of the world on M5's day i (the
    shape of M5's calendar on the world's dates)."""
    from forecasting.data.adapters import load_m5_calendar

    days = pq.read_table(data, columns=["ds"])["ds"].to_pandas()
    channels = pq.read_table(data, columns=["channel"])["channel"].unique().to_pylist()
    states = ["CA_1", "TX_1", "WI_1"]
    m5 = load_m5_calendar(SHARED_DATA / "m5_tiny", states)
    start = days.min()
    parts = []
    for i, channel in enumerate(sorted(channels)):
        own = m5[m5["channel"] == states[i % len(states)]].sort_values("ds")
        own = own.assign(channel=channel, ds=start + pd.to_timedelta(np.arange(len(own)), unit="D"))
        parts.append(own)
    cal = pd.concat(parts, ignore_index=True)
    cal.to_parquet(out, index=False)
    return {"rows": len(cal), "columns": [c for c in cal.columns if c not in ("ds", "channel")],
            "ends": str(cal["ds"].max().date())}  # fmt: skip


def part_train(seed: int, n_sample: int, calendar: bool = False) -> dict[str, Any]:
    data = CACHE / "m5_shape.parquet"
    world = write_world(data, M5_SERIES, None, M5_DAYS, seed)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        cmd = [
            sys.executable, "-m", "forecasting.cli", "--quiet", "train-demand",
            "--sales", str(data), "--freq", "D", "--horizon", "28",
            "--forecast-out", str(Path(tmp) / "forecast.parquet"),
            "--tracking-uri", uri, "--no-register",
        ]  # fmt: skip
        cal_info = None
        if calendar:
            cal_path = Path(tmp) / "calendar.parquet"
            cal_info = world_calendar(data, cal_path)
            cmd += ["--calendar", str(cal_path)]
        run = run_measured(cmd)
        details = _run_details(uri)
    ref = autoets_reference(data, n_sample, seed)
    ours = M5_SERIES / run["seconds"]
    return {
        "data": {**world, "series": M5_SERIES, "days": M5_DAYS, "calendar": cal_info},
        "train_demand": {**run, "series_per_second": round(ours, 2), **details},
        "accuracy_m5_subset": m5_accuracy(),
        "autoets_reference": {
            **ref,
            "note": "measured on a random sample in the same run, scaled to every series",
            "scaled_seconds_all_series": round(M5_SERIES / ref["series_per_second"], 1),
        },
        "speedup_vs_autoets": round(ours / ref["series_per_second"], 2),
        # issue #6: 20 min; issue #16 (with a calendar): 10 min
        "targets": {
            "seconds_max": 600 if calendar else 1200,
            "peak_rss_mib_max": 12 * 1024,
            "speedup_min": 5,
        },
    }


def _register_predictor(store: Path, seed: int) -> str:
    """Train on 2,000 SKUs and register; returns the tracking URI."""
    from forecasting import tracking
    from forecasting.demand.config import LOCAL_MODELS, DemandConfig
    from forecasting.predictor import ElasticSkuPredictor, PredictorConfig
    from forecasting.serving import log_predictor_model

    uri = f"sqlite:///{store}/mlflow.db"
    world = generate_omnichannel(n_skus=2000, n_days=365, seed=seed)
    assert world.transactions is not None
    local = tuple(m for m in LOCAL_MODELS if m != "AutoETS")
    cfg = PredictorConfig(demand=DemandConfig(horizon=28, local_models=local))
    predictor = ElasticSkuPredictor(cfg).fit(world.transactions, world.sales, world.skus)
    with tracking.start_run("predictor", "scale-benchmark", tracking_uri=uri):
        log_predictor_model(predictor, world.sales.head(60), "elastic-sku-predictor")
    return uri


def _score_cmd(sales: Path, out: Path, uri: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "forecasting.cli", "--quiet", "score",
        "--model", "models:/elastic-sku-predictor/1", "--sales", str(sales),
        "--output", str(out), "--tracking-uri", uri, *extra,
    ]  # fmt: skip


def _partition_cmd(sales: Path, folder: Path, buckets: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "forecasting.cli", "--quiet", "partition",
           "--sales", str(sales), "--output", str(folder)]  # fmt: skip
    return cmd + (["--buckets", str(buckets)] if buckets else [])


def part_score(sizes: list[int], seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"by_size": []}
    with tempfile.TemporaryDirectory() as tmp:
        uri = _register_predictor(Path(tmp), seed)
        for n in sizes:
            data = CACHE / f"score_{n}.parquet"
            world = write_world(data, None, n, 365, seed + 10_000)
            run = run_measured(_score_cmd(data, Path(tmp) / f"d{n}.parquet", uri))
            out["by_size"].append(
                {
                    "skus": n,
                    "rows": world["rows"],
                    **run,
                    "skus_per_second": round(n / run["seconds"], 1),
                    "input": "in SKU order (as written by the generator)",
                }
            )
        n = min(sizes)
        shuffled = shuffled_row_groups(CACHE / f"score_{n}.parquet", seed)
        run = run_measured(_score_cmd(shuffled, Path(tmp) / f"s{n}.parquet", uri))
        out["by_size"].append(
            {
                "skus": n,
                **run,
                "skus_per_second": round(n / run["seconds"], 1),
                "input": "row groups shuffled (not in SKU order: hash-partition pass)",
            }
        )
    out["targets"] = {"skus_per_second_min": 1000, "memory": "flat in the number of SKUs"}
    return out


def part_spark(n: int, seed: int) -> dict[str, Any]:
    data = CACHE / f"score_{n}.parquet"
    write_world(data, None, n, 365, seed + 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        uri = _register_predictor(Path(tmp), seed)
        pandas_run = run_measured(_score_cmd(data, Path(tmp) / "p.parquet", uri))
        spark_run = run_measured(
            _score_cmd(
                data,
                Path(tmp) / "s.parquet",
                uri,
                "--engine",
                "spark",
                "--spark-master",
                "local[2]",
            )
        )
        shuffled = shuffled_row_groups(data, seed)
        pandas_shuffled = run_measured(_score_cmd(shuffled, Path(tmp) / "q.parquet", uri))
        same = pd.read_parquet(Path(tmp) / "p.parquet").sort_values("sku_id")
        other = pd.read_parquet(Path(tmp) / "s.parquet").sort_values("sku_id")
        equal = bool(
            np.array_equal(same["stocking"].to_numpy(), other["stocking"].to_numpy())
            and np.allclose(same["forecast_units"].to_numpy(), other["forecast_units"].to_numpy())
        )
    return {
        "skus": n,
        "pandas": pandas_run,
        "spark_local_2": spark_run,
        "spark_over_pandas": round(spark_run["seconds"] / pandas_run["seconds"], 2),
        "pandas_input_not_in_sku_order": pandas_shuffled,
        "spark_over_pandas_input_not_in_sku_order": round(
            spark_run["seconds"] / pandas_shuffled["seconds"], 2
        ),
        "same_decisions": equal,
        "target": {"spark_over_pandas_max": 1.5},
    }


def _decisions_equal(a: Path, b: Path) -> bool:
    x = pd.read_parquet(a).sort_values("sku_id").reset_index(drop=True)
    y = pd.read_parquet(b).sort_values("sku_id").reset_index(drop=True)
    return bool(
        len(x) == len(y)
        and np.array_equal(x["sku_id"].to_numpy(), y["sku_id"].to_numpy())
        and np.array_equal(x["stocking"].to_numpy(), y["stocking"].to_numpy())
        and np.array_equal(x["slow_mover"].to_numpy(), y["slow_mover"].to_numpy())
        and np.allclose(x["forecast_units"].to_numpy(), y["forecast_units"].to_numpy())
    )


CLUSTER_SETTINGS = ("pandas", "cluster", "local")
#: The keys of scale.json a run of some parts keeps from the last run.
KEPT_PARTS = (
    "train",
    "train_calendar",
    "score",
    "spark",
    "cluster",
    "cluster_overhead",
    "lgb_histograms",
)


def part_cluster(
    sizes: list[int],
    seed: int,
    buckets: int | None = None,
    settings: tuple[str, ...] = CLUSTER_SETTINGS,
    command: str = "",
) -> dict[str, Any]:
    """Issue #18: the same SKUs scored by pandas, Spark local[2] and a standalone cluster
    of one and of two one-core workers, from the file (Spark: groupBy, a shuffle) and from
    its `forecasting partition` folder (a task per bucket). ``settings``: which of pandas,
    cluster and local to run (the rows of the others are kept from an earlier run). Each
    row: seconds and peak memory per size, the command that made it."""
    from forecasting.scoring.standalone import StandaloneCluster

    rows_of: dict[int, int] = {}
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    partition_runs: dict[int, dict[str, Any]] = {}
    equal: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        uri = _register_predictor(Path(tmp), seed)
        for n in sizes:
            data = CACHE / f"score_{n}.parquet"
            rows_of[n] = write_world(data, None, n, 365, seed + 10_000)["rows"]
            folder = Path(tmp) / f"by_sku_{n}"
            partition_runs[n] = run_measured(_partition_cmd(data, folder, buckets))
            inputs = {"file": data, "partitioned": folder}
            reference = Path(tmp) / f"pandas_file_{n}.parquet"
            pandas = {"file": reference, "partitioned": Path(tmp) / f"pandas_part_{n}.parquet"}
            for kind, out in pandas.items():
                run = run_measured(_score_cmd(inputs[kind], out, uri))
                if "pandas" in settings:
                    runs.setdefault(f"pandas {kind}", {})[n] = run
            masters: dict[str, str] = {}
            if "cluster" in settings:
                for workers in (1, 2):
                    with StandaloneCluster(workers=workers, cores=1, memory="4g") as cluster:
                        masters[f"cluster {workers} worker(s)"] = cluster.master_url
                        _spark_rows(runs, equal, inputs, n, uri, tmp, reference,
                                    f"cluster {workers} worker(s)", cluster.master_url)  # fmt: skip
            if "local" in settings:
                _spark_rows(runs, equal, inputs, n, uri, tmp, reference, "spark local[2]",
                            "local[2]")  # fmt: skip
    return {
        "skus": sizes,
        "rows": rows_of,
        "runs": {name: {**by_size, "command": command} for name, by_size in runs.items()},
        "partition": partition_runs,
        "same_decisions_as_pandas": equal,
    }


def _spark_rows(
    runs: dict[str, dict[int, dict[str, Any]]],
    equal: dict[str, bool],
    inputs: dict[str, Path],
    n: int,
    uri: str,
    tmp: str,
    reference: Path,
    setting: str,
    master: str,
) -> None:
    for kind, source in inputs.items():
        name = f"{setting} {kind}"
        out = Path(tmp) / f"{name.replace(' ', '_')}_{n}.parquet"
        cmd = _score_cmd(source, out, uri, "--engine", "spark", "--spark-master", master)
        runs.setdefault(name, {})[n] = run_measured(cmd)
        equal[f"{name} {n}"] = _decisions_equal(out, reference)


def cluster_summary(measured: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """The table of `part_cluster`'s runs (rows of settings not run now kept from
    ``previous``, the last summary, when it has the same sizes): per row the seconds and
    peak memory per size, a line through the sizes (fixed seconds at zero rows, seconds per
    million rows) and its command; then the ratios the targets name."""
    sizes = measured["skus"]
    runs = dict(measured["runs"])
    equal = dict(measured["same_decisions_as_pandas"])
    partition = measured["partition"]
    if previous and "runs" not in previous and "table" in previous:  # written before rows
        previous["runs"] = {  # had their own commands: the one command of that run
            row["setting"]: {
                **{
                    n: {"seconds": row[f"seconds_{n}"], "peak_rss_mib": row[f"peak_rss_mib_{n}"]}
                    for n in previous.get("skus", [])
                },
                "command": previous.get("command", ""),
            }
            for row in previous["table"]
        }
    if previous and previous.get("skus") == sizes and "runs" in previous:
        runs = {**previous["runs"], **runs}
        equal = {**previous.get("same_decisions_as_pandas", {}), **equal}
        partition = measured["partition"] or previous.get("partition", {})
    table = []
    for name, by_size in runs.items():
        xs = np.array([measured["rows"][n] / 1e6 for n in sizes])
        ys = np.array([by_size[n]["seconds"] if n in by_size else by_size[str(n)]["seconds"]
                       for n in sizes])  # fmt: skip
        get = {int(k): v for k, v in by_size.items() if k != "command"}
        # one size cannot split fixed from per-row cost: both left out then
        slope, intercept = np.polyfit(xs, ys, 1) if len(sizes) > 1 else (np.nan, np.nan)
        table.append(
            {
                "setting": name,
                **{f"seconds_{n}": get[n]["seconds"] for n in sizes},
                **{f"peak_rss_mib_{n}": get[n].get("peak_rss_mib") for n in sizes},
                "fixed_seconds": None if np.isnan(intercept) else round(float(intercept), 1),
                "seconds_per_million_rows": None if np.isnan(slope) else round(float(slope), 2),
                "command": by_size.get("command", ""),
            }
        )
    seconds = {row["setting"]: row[f"seconds_{max(sizes)}"] for row in table}

    def ratio(a: str, b: str) -> float | None:
        return round(seconds[a] / seconds[b], 2) if a in seconds and b in seconds else None

    return {
        "skus": sizes,
        "rows": measured["rows"],
        "table": table,
        "runs": runs,
        "partition": partition,
        "same_decisions_as_pandas": equal,
        "two_workers_over_one": {
            kind: ratio(f"cluster 1 worker(s) {kind}", f"cluster 2 worker(s) {kind}")
            for kind in ("file", "partitioned")
        },
        "spark_local_partitioned_over_pandas_partitioned": ratio(
            "spark local[2] partitioned", "pandas partitioned"
        ),
        "targets": {
            "two_workers_over_one_min": 1.7,
            "spark_local_partitioned_over_pandas_max": 1.5,
            "fixed_seconds_max": 15,
            "partition_100k_seconds_max": 120,
        },
        "note": "fixed and per-row cost: a line through the sizes' times (two points: exact); "
        "peak memory is the driver's process tree (a cluster's executors run under its "
        "workers); the pandas engine runs score's default --jobs (the cores, at most 4)",
    }


SPARK_FLOOR = """
import json, time
from pyspark.sql import SparkSession
t = time.time()
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .getOrCreate())
t1 = time.time()
spark.sparkContext.setLogLevel("ERROR")
spark.range(10).count()
t2 = time.time()
print(json.dumps({"session_seconds": round(t1 - t, 1), "first_job_seconds": round(t2 - t1, 1)}))
"""


def part_overhead(seed: int, tiny: int = 100, scaling_skus: int = 20_000) -> dict[str, Any]:
    """Issue #18's fixed overhead measured on a tiny partitioned world (every engine, twice),
    Spark's own floor here, and the machine's one-to-two-process scaling (pandas engine)."""
    import json

    from forecasting.scoring.standalone import StandaloneCluster

    out: dict[str, Any] = {"tiny_skus": tiny}
    with tempfile.TemporaryDirectory() as tmp:
        uri = _register_predictor(Path(tmp), seed)
        folders = {}
        for n in (tiny, scaling_skus):
            data = CACHE / f"score_{n}.parquet"
            write_world(data, None, n, 365, seed + 10_000)
            folders[n] = Path(tmp) / f"by_sku_{n}"
            subprocess.run(_partition_cmd(data, folders[n]), check=True)

        def twice(name: str, *extra: str) -> dict[str, Any]:
            outs = [Path(tmp) / f"{name}_{i}.parquet" for i in range(2)]
            runs = [
                run_measured(_score_cmd(folders[tiny], o, uri, *extra))["seconds"] for o in outs
            ]
            return {"seconds": runs, "fixed_seconds": min(runs)}

        fixed = {"pandas": twice("pandas")}
        fixed["spark local[2]"] = twice("local", "--engine", "spark", "--spark-master", "local[2]")
        for workers in (1, 2):
            with StandaloneCluster(workers=workers, cores=1, memory="4g") as cluster:
                fixed[f"cluster {workers} worker(s)"] = twice(
                    f"cluster{workers}", "--engine", "spark", "--spark-master", cluster.master_url
                )
        out["fixed"] = fixed
        # two workers against one on the 20,000 SKUs, workers free or each on its own CPU
        scaling: dict[str, Any] = {}
        for pin in (False, True):
            for workers in (1, 2):
                with StandaloneCluster(workers=workers, cores=1, memory="4g", pin=pin) as cluster:
                    name = f"cluster {workers} worker(s){', pinned' if pin else ''}"
                    cmd = _score_cmd(folders[scaling_skus], Path(tmp) / f"s{workers}{pin}.parquet",
                                     uri, "--engine", "spark", "--spark-master",
                                     cluster.master_url)  # fmt: skip
                    scaling[name] = run_measured(cmd)["seconds"]
        for pin in ("", ", pinned"):
            one, two = scaling[f"cluster 1 worker(s){pin}"], scaling[f"cluster 2 worker(s){pin}"]
            base = min(fixed["cluster 1 worker(s)"]["fixed_seconds"],
                       fixed["cluster 2 worker(s)"]["fixed_seconds"])  # fmt: skip
            scaling[f"two_over_one{pin}"] = round(one / two, 2)
            scaling[f"two_over_one_above_fixed{pin}"] = round((one - base) / (two - base), 2)
        out["cluster_scaling"] = {"skus": scaling_skus, "input": "partitioned", **scaling}
        floor = subprocess.run(
            [sys.executable, "-c", SPARK_FLOOR], capture_output=True, text=True, check=True
        )
        out["spark_floor"] = json.loads(floor.stdout.strip().splitlines()[-1])
        jobs = {}
        for j in (1, 2):
            cmd = _score_cmd(folders[scaling_skus], Path(tmp) / f"jobs{j}.parquet", uri,
                             "--jobs", str(j))  # fmt: skip
            jobs[j] = run_measured(cmd)["seconds"]
        base = fixed["pandas"]["fixed_seconds"]
        out["machine_two_process_scaling"] = {
            "skus": scaling_skus,
            "pandas_jobs_1_seconds": jobs[1],
            "pandas_jobs_2_seconds": jobs[2],
            "ratio": round(jobs[1] / jobs[2], 2),
            "ratio_above_fixed": round((jobs[1] - base) / (jobs[2] - base), 2),
        }
    out["note"] = (
        "fixed_seconds: the faster of two runs on the tiny world (start, model load, the one "
        "part, the write); spark_floor: a bare local[2] session and one trivial job in a "
        "fresh process; machine_two_process_scaling: the pandas engine's one worker on two "
        "threads against two workers on one thread each (the same two cores used two ways, "
        "not a one-core baseline); cluster_scaling: two one-core workers against one, free "
        "or pinned to a CPU each (pinned: the one-core baseline a worker on a machine of its "
        "own has), above_fixed: beyond the smaller of the two clusters' fixed seconds"
    )
    return out


def part_histograms(seed: int, trees: int = 150, repeats: int = 2) -> dict[str, Any]:
    """LightGBM's training time on `train-demand`'s own training rows at M5's shape (the
    calendar's features included): the histogram strategy LightGBM picks for itself against
    row-wise, the same rows, interleaved, ``repeats`` times ``trees`` trees each."""
    from forecasting.data.contracts import SALES
    from forecasting.data.io import read_table
    from forecasting.data.stockouts import uncensor
    from forecasting.demand import boosting
    from forecasting.demand.config import DemandConfig
    from forecasting.demand.covariates import read_calendar
    from forecasting.demand.panel import exog_columns, prepare_panel

    data = CACHE / "m5_shape.parquet"
    write_world(data, M5_SERIES, None, M5_DAYS, seed)
    cfg = DemandConfig()
    with tempfile.TemporaryDirectory() as tmp:
        cal_path = Path(tmp) / "calendar.parquet"
        world_calendar(data, cal_path)
        calendar = read_calendar(pd.read_parquet(cal_path), cfg)
    sales, _ = uncensor(read_table(data, SALES))
    panel, _, _ = prepare_panel(sales, cfg)
    del sales
    exog = exog_columns(panel)
    rows = boosting.training_rows(panel, cfg)
    del panel
    mlf = boosting.make_mlf(cfg)
    X = mlf.preprocess(boosting.lgb_frame(rows, exog, ["channel"], calendar),
                       static_features=["channel"])  # fmt: skip
    y = X.pop("y")
    X = X.drop(columns=["unique_id", "ds"])
    seconds: dict[str, list[float]] = {"lightgbm's choice": [], "row-wise": []}
    for _ in range(repeats):
        for name, row_wise in (("lightgbm's choice", False), ("row-wise", True)):
            model = boosting.make_mlf(cfg).models[boosting.LGB]
            model.set_params(n_estimators=trees, force_row_wise=row_wise)
            t = time.perf_counter()
            model.fit(X, y)
            seconds[name].append(round(time.perf_counter() - t, 1))
    return {
        "training_rows": len(X),
        "features": len(X.columns),
        "trees": trees,
        "seconds": seconds,
        **_savings(seconds["lightgbm's choice"], seconds["row-wise"]),
        "note": "LightGBM times both strategies on its first iteration and keeps the faster: "
        "its choice varies from run to run; the mean is what a run costs on average",
    }


def _savings(auto: list[float], row: list[float]) -> dict[str, float]:
    """Row-wise's saving against LightGBM's own choice, on the means and on the minima."""
    return {
        "row_wise_saving_pct_of_mean": round(100 * (1 - np.mean(row) / np.mean(auto)), 1),
        "row_wise_saving_pct_of_min": round(100 * (1 - min(row) / min(auto)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--part",
        choices=["train", "score", "spark", "cluster", "overhead", "histograms", "all"],
        default="all",
    )
    parser.add_argument("--cluster-sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument(
        "--cluster-settings",
        nargs="+",
        choices=CLUSTER_SETTINGS,
        default=list(CLUSTER_SETTINGS),
        help="which rows of --part cluster to run (the others are kept from scale.json)",
    )
    parser.add_argument("--score-sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--spark-skus", type=int, default=20_000)
    parser.add_argument("--autoets-sample", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--calendar", action="store_true", help="train with a calendar (M5's, on the world's days)"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {}
    previous = RESULTS / "scale.json"
    if previous.exists() and args.part != "all":  # parts run separately add up in one file
        import json

        result = {k: v for k, v in json.loads(previous.read_text()).items() if k in KEPT_PARTS}
    command = "python -m benchmarks.scale " + " ".join(sys.argv[1:])
    made = {"command": command, "date": time.strftime("%Y-%m-%d")}  # each part its own
    if args.part in ("score", "all"):
        result["score"] = {**part_score(args.score_sizes, args.seed), **made}
    if args.part in ("spark", "all"):
        result["spark"] = {**part_spark(args.spark_skus, args.seed), **made}
    if args.part in ("cluster", "all"):
        measured = part_cluster(
            args.cluster_sizes, args.seed, settings=tuple(args.cluster_settings), command=command
        )
        result["cluster"] = cluster_summary(measured, result.get("cluster"))
    if args.part in ("overhead", "all"):
        overhead = part_overhead(args.seed)
        result["cluster_overhead"] = {**overhead, **made}
    if args.part == "histograms":
        result["lgb_histograms"] = {**part_histograms(args.seed), **made}
    if args.part in ("train", "all"):
        key = "train_calendar" if args.calendar else "train"  # both kept side by side
        result[key] = {
            **part_train(args.seed, args.autoets_sample, args.calendar),
            **made,
        }
    print(write_result("scale", result))


if __name__ == "__main__":
    main()
