"""Reading contract tables from CSV (also ``.gz``) or Parquet, and writing outputs atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from forecasting.data.contracts import TableContract, validate
from forecasting.errors import DataContractError, ForecastingError

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


def read_table(path: str | os.PathLike[str], contract: TableContract) -> pd.DataFrame:
    """Read and validate one contract table; IDs are read as text, never as numbers."""
    src = str(path)
    fmt = table_format(path)
    p = Path(path)
    if not p.is_file():
        raise ForecastingError(f"{src}: file not found")
    if p.stat().st_size == 0:
        raise DataContractError(src, f"the {contract.name} file is empty", "give a non-empty file")
    try:
        if fmt == "csv":
            table = pacsv.read_csv(
                p,
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in contract.id_columns},
                    strings_can_be_null=False,
                ),
            )
        else:
            table = pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).splitlines()[0]
        if "Empty CSV file" in first:
            raise DataContractError(
                src, f"the {contract.name} file is empty", "give a file with a header and rows"
            ) from None
        raise DataContractError(
            src, f"cannot be read as {fmt}: {first}", f"check that the file is valid {fmt}"
        ) from None
    df = table.to_pandas(date_as_object=False)
    for col in contract.id_columns:  # CSV: text columns read back as '' where empty
        if col in df.columns and df[col].dtype == object:
            df[col] = df[col].where(df[col] != "", None)
    return validate(df, contract, src, line_numbers=fmt == "csv")


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as CSV or Parquet (by extension), atomically: temp file, then rename."""
    fmt = table_format(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        if fmt == "csv":
            gz = target.name.lower().endswith(".gz")
            df.to_csv(tmp, index=False, compression="gzip" if gz else None)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
