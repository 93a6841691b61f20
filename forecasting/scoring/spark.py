"""The Spark engine (extra ``[spark]``): batch scoring across a cluster.

`score_spark` reads the sales (and inventory) Parquet with Spark, sends whole SKUs to the
workers and applies the registered predictor there with ``applyInPandas``; each Python
worker loads the model once and keeps it for every group it scores; Spark writes the
decisions as Parquet itself. The result is the pandas engine's, row for row: a worker runs
the same `score_part` (stock, then the predictor) on the same rows of each SKU.

SKUs are grouped by a hash bucket of ``sku_id`` rather than one group per SKU: a group per
SKU would be one model call (with its fixed overhead) per SKU; a bucket holds whole SKUs,
a few thousand of them, so each call is vectorised like a pandas chunk.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.data.layout import is_bucketed
from forecasting.errors import ForecastingError
from forecasting.files import atomic_output

#: The decisions' Spark schema (DESIGN.md's columns, then the tier units, the hold reason
#: the stockouts, the cover cap and the currency).
DECISIONS_SCHEMA = (
    "sku_id string, stocking string, slow_mover boolean, slow_mover_reason string, "
    "demand_class string, forecast_units double, weeks_of_cover double, "
    "repurchase_rate double, expected_cost_unified double, expected_cost_tiered double, "
    "reason string, units_central double, units_regional double, units_store double, "
    "hold_reason string, stockout_share double, lost_sales_units double, "
    "weeks_of_cover_capped boolean, currency string"
)
_MODELS: dict[tuple[str, str], Any] = {}  # per Python worker: model URI -> predictor
#: The physical plan of the last bucketed scoring (tests check it has no shuffle).
last_plan: str | None = None


def require_pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise ForecastingError(
            "the Spark engine needs the [spark] extra: pip install 'forecasting[spark]'"
        ) from None
    return pyspark


def spark_session(
    master: str = "local[*]", app: str = "forecasting", jars: tuple[str, ...] = ()
) -> Any:
    """A Spark session; a local master binds to 127.0.0.1 with the UI off. ``jars``: JVM
    libraries the session loads (Splink's string-similarity functions, say)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    # the driver JVM's log goes to a file, not the terminal: a failed task would otherwise
    # print pages of Java traces around the one line that says what went wrong
    log_config = _log_config()
    builder = builder.config(
        "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log_config}"
    )
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    # a group's rows reach Python in Arrow batches: a few large ones rather than many of
    # 10,000 rows (20,000 SKUs: 15 s instead of 21 s to move them to the workers)
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", "1000000")
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.ui.showConsoleProgress", "false")  # stderr stays readable
    # pandas writes nanosecond timestamps, which Spark reads only as longs (see _timestamps)
    builder = builder.config("spark.sql.legacy.parquet.nanosAsLong", "true")
    if master.startswith(("spark://127.0.0.1:", "spark://localhost:")):
        # a standalone cluster on this machine (`standalone.StandaloneCluster`): the driver
        # on the loopback too, executors spread over the workers one core at a time
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.executor.cores", "1")
        )
    if master.startswith("local"):
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "16")
            .config("spark.sql.adaptive.coalescePartitions.enabled", "false")
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


#: Where the Spark driver's log goes (one file per process).
SPARK_LOG_DIR = Path(tempfile.gettempdir()) / "forecasting-spark-logs"


def spark_log() -> Path:
    """This process's Spark driver log."""
    return SPARK_LOG_DIR / f"driver-{os.getpid()}.log"


def _log_config() -> Path:
    """A log4j2 configuration writing Spark's driver log at WARN to `spark_log`."""
    SPARK_LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = SPARK_LOG_DIR / f"log4j2-{os.getpid()}.properties"
    path.write_text(
        "rootLogger.level = warn\n"
        "rootLogger.appenderRef.file.ref = file\n"
        "appender.file.type = File\n"
        "appender.file.name = file\n"
        f"appender.file.fileName = {spark_log()}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n\n"
    )
    return path


def _load(model_uri: str, tracking_uri: str, known: Any) -> Any:
    """The predictor at ``model_uri``, loaded once per Python worker, with ``known``'s
    calendar, on the cores Spark gave this task (``spark.task.cpus``): a task's LightGBM
    and statsforecast would otherwise take every core of the executor's machine, and the
    tasks beside it would wait."""
    from pyspark import TaskContext

    key = (model_uri, tracking_uri)
    if key not in _MODELS:
        from forecasting.serving import load_predictor
        from forecasting.tracking import configure

        configure(tracking_uri)
        _MODELS[key] = load_predictor(model_uri)
    context = TaskContext.get()
    return known.applied(_MODELS[key]).with_jobs(context.cpus() if context else 1)


def score_spark(
    spark: Any,
    model_uri: str,
    tracking_uri: str,
    sales_path: str,
    output_path: str,
    inventory_path: str | None = None,
    skus_per_group: int = 2000,
    rows_per_group: int = 2_000_000,
    known: Any = None,
) -> int:
    """Score every SKU of the sales Parquet with the predictor at ``model_uri`` on Spark and
    write the decisions as Parquet at ``output_path`` (a folder, replaced atomically).
    A group holds about ``rows_per_group`` rows, scored ``skus_per_group`` SKUs per
    predictor call. ``known`` (`forecasting.scoring.local.Known`): a calendar replacing the
    predictor's and a plan, sent with each task (a plan of millions of rows is better
    joined to the sales upstream). Returns the number of SKUs scored."""
    from pyspark.sql import functions as F

    from forecasting.data.contracts import INVENTORY, SALES, validate
    from forecasting.policy.decide import OUTPUT_COLUMNS
    from forecasting.scoring.local import Known, score_part

    known = known or Known()
    if is_bucketed(sales_path):
        return _score_buckets(
            spark, model_uri, tracking_uri, sales_path, output_path, inventory_path,
            skus_per_group, known,
        )  # fmt: skip

    sales = _timestamps(spark.read.parquet(sales_path), ("ds",))
    n_rows = sales.count()  # from the Parquet footers, no pass over the data
    if n_rows == 0:
        raise ForecastingError(f"{sales_path}: no sales rows")
    # at least two groups per core, so that no core waits long for the last one
    cores = spark.sparkContext.defaultParallelism
    buckets = max(2 * cores, -(-n_rows // rows_per_group))
    bucket = (F.abs(F.xxhash64("sku_id")) % buckets).alias("_bucket")
    sales = sales.withColumn("_bucket", bucket)

    def score_with_stock(part: pd.DataFrame, stock: pd.DataFrame) -> pd.DataFrame:
        part = part.drop(columns="_bucket")
        if part.empty:
            return pd.DataFrame(columns=OUTPUT_COLUMNS)
        part = validate(part, SALES, sales_path, categorical_ids=True)
        inventory = None
        if not stock.empty:
            inventory = validate(stock.drop(columns="_bucket"), INVENTORY, str(inventory_path))
        predictor = _load(model_uri, tracking_uri, known)
        return score_part(predictor, part, inventory, skus_per_group, known.future)[OUTPUT_COLUMNS]

    def score(part: pd.DataFrame) -> pd.DataFrame:
        return score_with_stock(part, pd.DataFrame())

    if inventory_path is not None:
        inventory = _timestamps(spark.read.parquet(inventory_path), ("ds",))
        inventory = inventory.withColumn("_bucket", bucket)
        result = (
            sales.groupBy("_bucket")
            .cogroup(inventory.groupBy("_bucket"))
            .applyInPandas(score_with_stock, schema=DECISIONS_SCHEMA)
        )
    else:
        result = sales.groupBy("_bucket").applyInPandas(score, schema=DECISIONS_SCHEMA)
    with atomic_output(output_path, folder=True) as tmp:
        try:
            result.write.parquet(str(tmp))
        except Exception as exc:  # a worker's error arrives wrapped in Spark's
            raise ForecastingError(_worker_error(exc)) from None
    return len(_written_skus(output_path))


def _score_buckets(
    spark: Any,
    model_uri: str,
    tracking_uri: str,
    folder: str,
    output_path: str,
    inventory_path: str | None,
    skus_per_group: int,
    known: Any,
) -> int:
    """A folder bucketed by SKU (`forecasting.data.layout`): one task per bucket reads its
    own files and scores them (``mapInPandas`` over the bucket list), no shuffle of the
    sales. Executors read the files at the path the driver gives, so the folder must be on
    storage they all see (a shared or object store). The inventory, one row per series,
    travels with the tasks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forecasting.data.contracts import INVENTORY, SALES
    from forecasting.data.io import _part_frame
    from forecasting.data.layout import bucket_files
    from forecasting.policy.decide import OUTPUT_COLUMNS
    from forecasting.scoring.local import score_part

    buckets = [[str(f) for f in files] for files in bucket_files(folder)]
    inventory = read_parquet(spark, inventory_path, INVENTORY) if inventory_path else None

    def score(batches: Any) -> Any:
        predictor = _load(model_uri, tracking_uri, known)
        for batch in batches:
            for files in batch["files"]:
                name = f"{folder} ({os.path.basename(os.path.dirname(files[0]))})"
                table = pa.concat_tables([pq.read_table(f) for f in files])
                part = _part_frame(table, SALES, name, categorical_ids=True)
                yield score_part(predictor, part, inventory, skus_per_group, known.future)[
                    OUTPUT_COLUMNS
                ]

    rdd = spark.sparkContext.parallelize([(b,) for b in buckets], len(buckets))
    tasks = spark.createDataFrame(rdd, "files array<string>")  # a partition per bucket
    result = tasks.mapInPandas(score, schema=DECISIONS_SCHEMA)
    global last_plan
    try:  # the JVM's plan (a classic session; Spark Connect has no _jdf)
        last_plan = str(result._jdf.queryExecution().executedPlan().toString())
    except AttributeError:
        last_plan = None
    with atomic_output(output_path, folder=True) as tmp:
        try:
            result.write.parquet(str(tmp))
        except Exception as exc:  # a worker's error arrives wrapped in Spark's
            raise ForecastingError(_worker_error(exc)) from None
        skus = _written_skus(tmp)
        n, distinct = len(skus), skus.nunique()
        if n != distinct:
            raise ForecastingError(
                f"{folder}: {n - distinct} SKUs are in more than one bucket: the folder is not "
                "bucketed by whole SKUs; write it with forecasting partition"
            )
    return n


def _written_skus(folder: str | os.PathLike[str]) -> pd.Series:
    """The ``sku_id`` column of the decisions Spark wrote, read by pyarrow: Spark's reader
    takes ``[`` and ``{`` in a path as a glob (an output named ``run[2].parquet`` is "not
    found")."""
    import pyarrow.parquet as pq

    return pq.read_table(str(folder), columns=["sku_id"]).column(0).to_pandas()


def read_parquet(spark: Any, path: str, contract: Any) -> pd.DataFrame:
    """A contract table read by Spark, collected to the driver and validated."""
    from forecasting.data.contracts import validate

    try:
        df = _timestamps(spark.read.parquet(path), ("ds", "ts")).toPandas()
    except Exception as exc:
        reason = _worker_error(exc)
        raise ForecastingError(f"{path}: Spark cannot read it as Parquet: {reason}") from None
    return validate(df, contract, path)


def write_parquet(spark: Any, df: pd.DataFrame, path: str) -> None:
    """Spark writes ``df`` as a Parquet folder at ``path`` (temporary name, then renamed)."""
    with atomic_output(path, folder=True) as tmp:
        spark.createDataFrame(df).write.parquet(str(tmp))


def _timestamps(df: Any, columns: tuple[str, ...]) -> Any:
    """Nanosecond timestamps read as longs (pandas' Parquet) back to timestamps."""
    from pyspark.sql import functions as F

    types = dict(df.dtypes)
    for col in columns:
        if types.get(col) == "bigint":
            df = df.withColumn(col, F.timestamp_micros(F.floor(F.col(col) / 1000).cast("long")))
    return df


def _worker_error(exc: Exception) -> str:
    """The line of a Python worker's exception that the user needs (contract errors)."""
    text = str(exc)
    for marker in ("DataContractError: ", "ForecastingError: "):
        if marker in text:
            return text.split(marker, 1)[1].splitlines()[0]
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"Spark job failed: {first} (Spark's log: {spark_log()})"
