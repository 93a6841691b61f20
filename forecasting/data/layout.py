"""A sales table laid out by SKU: a Parquet dataset partitioned by a stable hash of
``sku_id``, so that scoring reads one bucket per task with no shuffle.

The layout, for any tool that writes it:

* ``DIR/bucket=BBBBB/*.parquet`` (``BBBBB``: the bucket number, five digits, zero padded),
  the sales contract's columns (the ``bucket`` folder is not a column);
* every row of a SKU is in the bucket ``crc32(UTF-8 bytes of sku_id) mod N``
  (`forecasting.data.io.sku_buckets`; in Spark ``pmod(crc32(sku_id), N)``), so a bucket
  holds whole SKUs;
* ``DIR/_layout.json``: ``{"layout": "sku-buckets", "version": 1, "key": "sku_id",
  "hash": "crc32", "buckets": N}``.

Scoring checks that no SKU appears in two buckets, so a dataset written with another
hash fails in one line instead of scoring a SKU twice on half its rows.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from forecasting.data.contracts import SALES
from forecasting.data.io import _existing, _part_frame, hash_partition
from forecasting.errors import DataContractError, ForecastingError

LAYOUT_FILE = "_layout.json"
LAYOUT = {"layout": "sku-buckets", "version": 1, "key": "sku_id", "hash": "crc32"}
#: Rows per bucket when the bucket count is not given (a scoring part's size).
ROWS_PER_BUCKET = 2_000_000


def is_bucketed(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder laid out by SKU bucket (with or without the layout
    file)."""
    p = Path(path)
    return p.is_dir() and ((p / LAYOUT_FILE).is_file() or any(p.glob("bucket=*")))


def bucket_files(path: str | os.PathLike[str]) -> list[list[Path]]:
    """The Parquet files of each bucket of a bucketed folder, buckets in order (empty
    buckets left out). A user error when the folder holds no bucket or no file."""
    p = Path(path)
    layout = p / LAYOUT_FILE
    if layout.is_file():
        try:
            meta = json.loads(layout.read_text())
        except ValueError as exc:
            raise DataContractError(
                str(layout), f"is not JSON ({exc})", "rewrite it with forecasting partition"
            ) from None
        if meta.get("key", "sku_id") != "sku_id" or meta.get("hash", "crc32") != "crc32":
            raise DataContractError(
                str(layout),
                f"buckets by {meta.get('key')!r} with {meta.get('hash')!r}; scoring needs "
                "sku_id with crc32",
                "re-run forecasting partition on the sales",
            )
    folders = sorted(d for d in p.glob("bucket=*") if d.is_dir())
    parts = [sorted(f for f in d.glob("*.parquet") if f.is_file()) for d in folders]
    parts = [files for files in parts if files]
    if not parts:
        raise DataContractError(
            str(p),
            "has no bucket=*/ folder with Parquet files",
            "write it with forecasting partition",
        )
    return parts


def partition_sales(
    sales: str | os.PathLike[str],
    output: str | os.PathLike[str],
    buckets: int | None = None,
    *,
    date_format: str | None = None,
) -> dict[str, Any]:
    """Write the sales file ``sales`` (CSV or Parquet) as a dataset bucketed by SKU at the
    folder ``output`` (which must not exist), in one streaming pass: memory follows a
    batch, not the file. ``buckets``: how many (default: one per `ROWS_PER_BUCKET` rows).
    The folder appears whole or not at all (written beside it, then renamed). Returns
    rows, buckets, files and seconds."""
    if buckets is not None and buckets < 1:
        raise ForecastingError("--buckets must be >= 1")
    _existing(sales, SALES)  # a missing or empty file fails before anything is created
    out = Path(output)
    if out.exists():
        raise ForecastingError(f"--output {output} exists: remove it or give a new folder")
    start = time.perf_counter()
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        files, n = hash_partition(
            sales, SALES, ROWS_PER_BUCKET, "sku_id", tmp, date_format, buckets,
            lambda b: tmp / f"bucket={b:05d}" / "part-00000.parquet",
        )  # fmt: skip
        (tmp / LAYOUT_FILE).write_text(json.dumps({**LAYOUT, "buckets": n}, indent=2) + "\n")
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "rows": rows,
        "buckets": n,
        "files": len(files),
        "seconds": round(time.perf_counter() - start, 2),
    }


def iter_bucket_parts(
    path: str | os.PathLike[str],
    *,
    categorical_ids: bool = False,
    date_format: str | None = None,
) -> Iterator[pd.DataFrame]:
    """The validated sales of each bucket of a bucketed folder, in bucket order: no pass
    over the whole table first. A SKU found in two buckets is a user error (the folder was
    not bucketed by whole SKUs)."""
    seen: dict[str, int] = {}
    files = bucket_files(path)
    for i, bucket in enumerate(files):
        name = f"{path} ({bucket[0].parent.name}, part {i + 1} of {len(files)})"
        try:
            table = pa.concat_tables(
                [pq.read_table(f) for f in bucket], promote_options="permissive"
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataContractError(
                name, f"cannot be read as parquet: {str(exc).splitlines()[0]}",
                "check that every file of the bucket is valid parquet",
            ) from None  # fmt: skip
        part = _part_frame(table, SALES, name, categorical_ids, date_format)
        del table
        for sku in pd.unique(part["sku_id"].astype(str)):
            if sku in seen:
                raise DataContractError(
                    str(path),
                    f"sku_id {sku!r} is in bucket {seen[sku]} and in {bucket[0].parent.name}: "
                    "the folder is not bucketed by whole SKUs",
                    "write it with forecasting partition (crc32 of sku_id, see the docs)",
                )
            seen[sku] = i
        yield part
