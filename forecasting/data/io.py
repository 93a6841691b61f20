"""Reading contract tables from CSV (also ``.gz``) or Parquet, and writing outputs atomically."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from forecasting.data.contracts import TableContract, validate
from forecasting.errors import DataContractError, ForecastingError
from forecasting.files import atomic_output
from forecasting.progress import stage

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def table_format(path: str | os.PathLike[str]) -> str:
    """``"csv"`` or ``"parquet"`` from the file name; anything else is a user error."""
    name = str(path).lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ForecastingError(f"{path}: unknown file type; use .csv, .csv.gz, .parquet or .pq")


def _existing(path: str | os.PathLike[str], contract: TableContract) -> tuple[str, str, Path]:
    """(name for errors, format, path) of a non-empty input file; user errors otherwise."""
    src = str(path)
    fmt = table_format(path)
    p = Path(path)
    if not p.is_file():
        raise ForecastingError(f"{src}: file not found")
    if p.stat().st_size == 0:
        raise DataContractError(src, f"the {contract.name} file is empty", "give a non-empty file")
    if fmt == "csv":
        _check_utf8(p, src)
    return src, fmt, p


def _check_utf8(p: Path, src: str) -> None:
    """CSV files are UTF-8 (a byte-order mark is fine); anything else is refused from its
    first bytes, before a reader turns UTF-16's zero bytes into columns that do not exist."""
    import gzip

    try:
        opener = gzip.open if str(p).lower().endswith(".gz") else open
        with opener(p, "rb") as f:
            head = f.read(1 << 16)
    except (OSError, EOFError) as exc:
        raise DataContractError(
            src, f"cannot be read: {exc}", "check that the file is complete and valid"
        ) from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        looks = "UTF-16 or UTF-32" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "binary"
        raise DataContractError(src, f"is not UTF-8 text (it looks {looks})", "save it as UTF-8")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a character cut at the end of the sample
            byte = head[exc.start : exc.start + 1].hex()
            raise DataContractError(
                src,
                f"is not UTF-8 text (byte 0x{byte} at offset {exc.start}; latin-1 or cp1252?)",
                "save it as UTF-8",
            ) from None


def read_table(
    path: str | os.PathLike[str],
    contract: TableContract,
    *,
    categorical_ids: bool = False,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Read and validate one contract table; IDs are read as text, never as numbers
    (``categorical_ids``: as categories of text, for tables of tens of millions of rows).
    Dates are ISO 8601 unless ``date_format`` names their format (`forecasting.data.dates`).
    """
    with stage(f"read {os.fspath(path)}"):
        return _read_table(path, contract, categorical_ids, date_format)


def _read_table(
    path: str | os.PathLike[str],
    contract: TableContract,
    categorical_ids: bool,
    date_format: str | None,
) -> pd.DataFrame:
    src, fmt, p = _existing(path, contract)
    try:
        if fmt == "csv":
            table = pacsv.read_csv(
                p,
                convert_options=pacsv.ConvertOptions(
                    column_types=_text_columns(contract, date_format),
                    strings_can_be_null=False,
                ),
            )
        else:
            ids = None
            if categorical_ids:
                present = set(pq.ParquetFile(p).schema_arrow.names)
                ids = [c for c in contract.id_columns if c in present]
            table = pq.read_table(p, read_dictionary=ids)
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).splitlines()[0]
        if "Empty CSV file" in first:
            raise DataContractError(
                src, f"the {contract.name} file is empty", "give a file with a header and rows"
            ) from None
        raise DataContractError(
            src, f"cannot be read as {fmt}: {first}", f"check that the file is valid {fmt}"
        ) from None
    _unique_names(table.column_names, src)
    # the Arrow buffers are released column by column as pandas takes them over
    df = table.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)
    del table
    for col in contract.id_columns:  # CSV: text columns read back as '' where empty
        if col in df.columns and df[col].dtype == object:
            df[col] = df[col].where(df[col] != "", None)
    return validate(
        df,
        contract,
        src,
        line_numbers=fmt == "csv",
        categorical_ids=categorical_ids,
        date_format=date_format,
    )


def _unique_names(names: list[str], src: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataContractError(
            src,
            f"the header names {', '.join(map(repr, repeated))} more than once",
            "give every column its own name",
        )


def _text_columns(contract: TableContract, date_format: str | None) -> dict[str, pa.DataType]:
    """Columns a CSV reader keeps as text: the IDs, and the dates, which
    `forecasting.data.dates` parses (Arrow would turn time-zone offsets into UTC, mixed or
    not; its dates and ours then differ)."""
    text = list(contract.id_columns)
    text += [c.name for c in contract.columns if c.kind in ("date", "datetime")]
    return {c: pa.string() for c in text}


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as CSV or Parquet (by extension), atomically: temp file, then rename."""
    fmt = table_format(path)
    with atomic_output(path) as tmp:
        if fmt == "csv":
            gz = str(path).lower().endswith(".gz")
            df.to_csv(tmp, index=False, compression="gzip" if gz else None)
        else:
            # microseconds: nanosecond timestamps are not readable by Spark
            df.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    return Path(path)


def iter_sku_parts(
    path: str | os.PathLike[str],
    contract: TableContract,
    rows_per_part: int = 2_000_000,
    key: str = "sku_id",
    *,
    categorical_ids: bool = False,
    date_format: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Read a large table in parts of whole SKUs, memory bounded by the part, not the file.

    A Parquet file in order of ``key`` is cut into parts where the key changes. Otherwise one
    streaming pass writes each batch's rows into ``ceil(rows / rows_per_part)`` hash
    buckets of ``key`` (temporary Parquet files); each bucket, holding every row of its SKUs,
    is then validated against ``contract`` and yielded (IDs as ``category`` with
    ``categorical_ids``). A violation raises `DataContractError` naming the file and the part
    (CSV line numbers are not kept).
    """
    src, fmt, p = _existing(path, contract)
    pf = None
    try:
        pf = pq.ParquetFile(p) if fmt == "parquet" else None
        in_order = pf is not None and _clustered(pf, key)
    except (pa.ArrowInvalid, OSError):
        in_order = False  # the hash pass below reports what is wrong with the file
    if in_order and pf is not None:  # every SKU's rows already together: parts from the file
        tables = _runs(pf, key, rows_per_part)
        for i in itertools.count():
            try:
                table = next(tables, None)
            except (pa.ArrowInvalid, OSError) as exc:
                raise DataContractError(
                    src,
                    f"cannot be read as parquet: {str(exc).splitlines()[0]}",
                    "check that the file is valid parquet",
                ) from None
            if table is None:
                return
            yield _part_frame(
                table, contract, f"{src} (part {i + 1})", categorical_ids, date_format
            )
    with parts_folder() as tmp:
        files, _ = hash_partition(path, contract, rows_per_part, key, Path(tmp), date_format)
        for i, file in enumerate(files):
            name = f"{src} (part {i + 1} of {len(files)})"
            yield _part_frame(pq.read_table(file), contract, name, categorical_ids, date_format)


#: Where the temporary parts of `iter_sku_parts` live: one folder per job, named by its PID.
PARTS_ROOT = Path(tempfile.gettempdir()) / "forecasting-parts"


@contextmanager
def parts_folder() -> Iterator[Path]:
    """A temporary folder for one job's parts, removed when the job ends; folders left by
    jobs that were killed (their PID no longer runs) are removed first."""
    PARTS_ROOT.mkdir(parents=True, exist_ok=True)
    for stale in PARTS_ROOT.glob("*-*"):
        pid = stale.name.split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=PARTS_ROOT))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _part_frame(
    table: pa.Table,
    contract: TableContract,
    name: str,
    categorical_ids: bool,
    date_format: str | None = None,
) -> pd.DataFrame:
    """One part as a validated frame (IDs as categories with ``categorical_ids``)."""
    _unique_names(table.column_names, name)
    ids = [c for c in contract.id_columns if c in table.column_names]
    if categorical_ids:
        for col in ids:
            i = table.column_names.index(col)
            column = table.column(i)
            if not pa.types.is_dictionary(column.type):
                table = table.set_column(i, col, pc.dictionary_encode(column))
    df = table.to_pandas(date_as_object=False)
    del table
    for col in ids:  # an empty ID is a missing one (a category "" is found on uniques)
        if df[col].dtype == object:
            df[col] = df[col].where(df[col] != "", None)
    return validate(df, contract, name, categorical_ids=categorical_ids, date_format=date_format)


def _clustered(pf: pq.ParquetFile, key: str) -> bool:
    """Whether the rows are in order of ``key`` (so each key's rows are together): one pass
    over that column alone, about 2 s for 10^8 rows."""
    if key not in pf.schema_arrow.names or pf.metadata.num_rows == 0:
        return False
    previous = None
    for batch in pf.iter_batches(batch_size=1 << 20, columns=[key]):
        col = batch.column(0)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if col.null_count:
            return False  # the hash pass names the rows without an ID
        if len(col) == 0:
            continue
        if previous is not None and pc.less(col[0], previous).as_py():
            return False
        if len(col) > 1 and pc.any(pc.less(col[1:], col[:-1])).as_py():
            return False
        previous = col[-1]
    return True


def _runs(pf: pq.ParquetFile, key: str, rows_per_part: int) -> Iterator[pa.Table]:
    """Parts of about ``rows_per_part`` rows of a file in order of ``key``, each cut at the
    end of the run of the key its last row would have (so no key is split)."""
    pending: pa.Table | None = None
    for batch in _batches(pf, min(1 << 20, rows_per_part)):
        table = pa.Table.from_batches([batch])
        pending = table if pending is None else pa.concat_tables([pending, table])
        while pending.num_rows >= rows_per_part:
            end = _run_end(pending.column(key), rows_per_part - 1)
            if end is None:  # that key's rows go on in the next batch
                break
            yield pending.slice(0, end)
            pending = pending.slice(end)
    if pending is not None and pending.num_rows:
        yield pending


def _batches(pf: pq.ParquetFile, size: int) -> Iterator[pa.RecordBatch]:
    """The file's rows in batches of at most ``size``, one reader per row group: a single
    reader over a whole file of 10^8 rows kept growing by about 8 MB per 2 M rows read."""
    for group in range(pf.metadata.num_row_groups):
        yield from pf.iter_batches(batch_size=size, row_groups=[group])


def _run_end(col: pa.ChunkedArray, at: int) -> int | None:
    """The row after the run of rows equal to row ``at`` of a sorted column (None: the run
    reaches the last row)."""
    tail = col.slice(at)
    if pa.types.is_dictionary(tail.type):
        tail = tail.cast(tail.type.value_type)
    pos = pc.index(pc.not_equal(tail, tail[0]), True).as_py()
    return None if pos < 0 else at + pos


def hash_partition(
    path: str | os.PathLike[str],
    contract: TableContract,
    rows_per_part: int,
    key: str,
    tmp: Path,
    date_format: str | None = None,
    n_buckets: int | None = None,
    file_of: Callable[[int], Path] | None = None,
) -> tuple[list[Path], int]:
    """`_partition` of the file at ``path``, with a file that cannot be read or has no rows
    as one `DataContractError`."""
    src, fmt, p = _existing(path, contract)
    try:
        files, n = _partition(
            p, fmt, contract, rows_per_part, key, tmp, date_format, n_buckets, file_of
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataContractError(
            src,
            f"cannot be read as {fmt}: {str(exc).splitlines()[0]}",
            f"check that the file is valid {fmt} with the same columns in every row",
        ) from None
    if not files:
        raise DataContractError(
            src, f"the {contract.name} file has no rows", "give a file with rows"
        )
    return files, n


def _partition(
    p: Path,
    fmt: str,
    contract: TableContract,
    rows_per_part: int,
    key: str,
    tmp: Path,
    date_format: str | None = None,
    n_buckets: int | None = None,
    file_of: Callable[[int], Path] | None = None,
) -> tuple[list[Path], int]:
    """One streaming pass writing each row to the Parquet file of its SKU's bucket
    (`sku_buckets`): ``n_buckets``, else ``ceil(rows / rows_per_part)``; files
    ``file_of(bucket)``, else ``tmp/part-BBBBB.parquet``. Returns the files written (empty
    buckets have none) and the bucket count."""
    import math

    def path_of(b: int) -> Path:
        return file_of(b) if file_of else tmp / f"part-{b:05d}.parquet"

    if fmt == "csv":
        reader = pacsv.open_csv(
            p,
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types=_text_columns(contract, date_format),
                strings_can_be_null=False,
            ),
        )
        batches: Iterator[pa.RecordBatch] = iter(reader)
        first = next(batches, None)
        if first is None:
            return [], 0
        # rows from the first block's bytes per row (a compressed file: its ratio is unknown,
        # so assume 4x); the bucket count only has to be about right
        ratio = 4.0 if p.name.lower().endswith(".gz") else 1.0
        per_row = (16 << 20) / max(first.num_rows, 1)
        total = p.stat().st_size * ratio / per_row if first.num_rows else 0
        total = max(total, first.num_rows)
    else:
        pf = pq.ParquetFile(p)
        total = pf.metadata.num_rows
        batches = pf.iter_batches(batch_size=1 << 20)
        first = next(batches, None)
        if first is None:
            return [], 0
    if key not in first.schema.names:
        raise DataContractError(
            str(p), f"missing column {key!r}", f"add a {key} column", column=key
        )
    n_parts = n_buckets or max(1, math.ceil(total / rows_per_part))
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for batch in _chain(first, batches):
            if batch.num_rows == 0:
                continue
            bucket = sku_buckets(batch.column(key), n_parts)
            order = np.argsort(bucket, kind="stable")  # one take, then zero-copy slices
            table = pa.Table.from_batches([batch]).take(pa.array(order))
            bucket = bucket[order]
            values, starts = np.unique(bucket, return_index=True)
            ends = np.append(starts[1:], len(bucket))
            for b, lo, hi in zip(values, starts, ends, strict=True):
                part = table.slice(int(lo), int(hi - lo))
                if int(b) not in writers:
                    path_of(int(b)).parent.mkdir(parents=True, exist_ok=True)
                    writers[int(b)] = pq.ParquetWriter(path_of(int(b)), part.schema)
                writers[int(b)].write_table(part)
    finally:
        for w in writers.values():
            w.close()
    return [path_of(b) for b in sorted(writers)], n_parts


def sku_buckets(ids: pa.Array | pa.ChunkedArray, n_buckets: int) -> np.ndarray:
    """Bucket of each row's ID: ``crc32(UTF-8 bytes of the ID) mod n_buckets``, stable across
    runs, files and tools (Python's ``zlib.crc32``, Spark's ``pmod(crc32(sku_id), n)``, Java's
    ``CRC32``). The distinct IDs of the batch are hashed, then mapped back to the rows; a
    row without an ID goes to bucket 0, where validation names it."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    encoded = ids if pa.types.is_dictionary(ids.type) else pc.dictionary_encode(ids)
    text = encoded.dictionary.cast(pa.string()).to_pylist()
    # no vectorised CRC32 over strings in numpy, pandas or pyarrow: one call per distinct ID
    crc = np.fromiter((zlib.crc32(t.encode("utf-8")) for t in text), np.uint64, len(text))
    per_id = np.append(crc % np.uint64(n_buckets), np.uint64(0))
    null = len(text)
    return per_id[pc.fill_null(encoded.indices, null).to_numpy(zero_copy_only=False)]


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
