"""The data contracts of DESIGN.md and their validation.

`validate(df, SALES, source="sales.csv")` checks a table against its contract and returns a
copy with canonical dtypes: IDs as text (``00042`` stays ``00042``), dates as ``datetime64``,
quantities as floats, flags as ``int8``. Every violation raises one `DataContractError` that
names the source, the column, the first offending rows and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from forecasting.data.dates import parse_dates
from forecasting.errors import DataContractError

Kind = Literal["id", "date", "datetime", "number", "flag"]

#: How many offending rows an error message shows.
MAX_ROWS_SHOWN = 3


@dataclass(frozen=True)
class Column:
    """One column of a contract: its kind, whether it is required and its lower bound."""

    name: str
    kind: Kind
    required: bool = True
    lower: float | None = None
    strictly_above: bool = False


@dataclass(frozen=True)
class TableContract:
    """A table of DESIGN.md: its columns and the key that must not repeat."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    #: Columns that identify a row in error messages (default: the key).
    display: tuple[str, ...] = ()
    #: Every other column is a feature known in advance (the calendar): numbers as
    #: float64, text as categories, empty cells as none.
    features: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def id_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.kind == "id")


SALES = TableContract(
    "sales",
    (
        Column("sku_id", "id"),
        Column("channel", "id"),
        Column("ds", "date"),
        Column("y", "number", lower=0.0),
        Column("price", "number", required=False, lower=0.0),
        Column("promo", "flag", required=False),
        Column("on_hand", "number", required=False, lower=0.0),
    ),
    key=("sku_id", "channel", "ds"),
)

TRANSACTIONS = TableContract(
    "transactions",
    (
        Column("customer_id", "id"),
        Column("sku_id", "id"),
        Column("channel", "id"),
        Column("ts", "datetime"),
        Column("quantity", "number", lower=0.0, strictly_above=True),
        Column("amount", "number", required=False),
        Column("order_id", "id", required=False),
    ),
    display=("customer_id", "sku_id", "ts"),
)

INVENTORY = TableContract(
    "inventory",
    (
        Column("sku_id", "id"),
        Column("channel", "id"),
        Column("on_hand", "number", lower=0.0),
        Column("ds", "date", required=False),
    ),
    key=("sku_id", "channel", "ds"),
)

SKUS = TableContract(
    "skus",
    (
        Column("sku_id", "id"),
        Column("category", "id", required=False),
        Column("unit_cost", "number", required=False, lower=0.0),
        Column("lead_time_days", "number", required=False, lower=0.0),
    ),
    key=("sku_id",),
)

CALENDAR = TableContract(
    "calendar",
    (Column("ds", "date"), Column("channel", "id", required=False)),
    key=("channel", "ds"),
    features=True,
)

FUTURE = TableContract(
    "future",
    (
        Column("sku_id", "id"),
        Column("channel", "id"),
        Column("ds", "date"),
        Column("price", "number", required=False, lower=0.0),
        Column("promo", "flag", required=False),
    ),
    key=("sku_id", "channel", "ds"),
)

IDENTITIES = TableContract(
    "identities",
    (
        Column("record_id", "id"),
        Column("channel", "id"),
        Column("customer_id", "id", required=False),
        Column("first_name", "id", required=False),
        Column("last_name", "id", required=False),
        Column("birth_date", "date", required=False),
        Column("email", "id", required=False),
        Column("phone", "id", required=False),
        Column("address", "id", required=False),
        Column("city", "id", required=False),
        Column("postcode", "id", required=False),
        Column("state", "id", required=False),
        Column("member_id", "id", required=False),
        # the true person, when known (a generated world, a labelled sample): scored
        # against, never used to link
        Column("true_person_id", "id", required=False),
    ),
    key=("record_id",),
)

#: What ``link-customers`` writes and ``--links`` reads.
LINKS = TableContract(
    "links",
    (
        Column("record_id", "id"),
        Column("channel", "id"),
        Column("customer_id", "id", required=False),
        Column("person_id", "id"),
        Column("match_probability", "number", required=False, lower=0.0),
    ),
    key=("record_id",),
)

CONTRACTS = {
    c.name: c for c in (SALES, TRANSACTIONS, INVENTORY, SKUS, CALENDAR, FUTURE, IDENTITIES, LINKS)
}


def validate(
    df: pd.DataFrame,
    contract: TableContract,
    source: str | None = None,
    *,
    line_numbers: bool = False,
    categorical_ids: bool = False,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Check ``df`` against ``contract`` and return a copy with canonical dtypes.

    Args:
        df: the table, one row per observation.
        contract: one of `SALES`, `TRANSACTIONS`, `INVENTORY`, `SKUS`.
        source: how to name the table in errors (a file path); defaults to the contract's name.
        line_numbers: rows are lines of a CSV file with a header (row 0 is line 2).
        date_format: the strftime format of text dates (e.g. ``%d/%m/%Y``); default ISO 8601
            (`forecasting.data.dates`: dates are never guessed).
        categorical_ids: IDs as ``category`` of text instead of ``object``: a few bytes a
            row instead of a pointer and a string (tables of tens of millions of rows).

    Raises:
        DataContractError: on the first violation found.
    """
    src = source or f"<{contract.name} DataFrame>"
    if len(df.columns) == 0 or len(df) == 0:
        raise DataContractError(
            src,
            f"the {contract.name} table is empty",
            f"give a file with a header and at least one row ({', '.join(contract.required)})",
        )
    repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if repeated:
        raise DataContractError(
            src,
            f"the header names {', '.join(map(repr, repeated))} more than once",
            "give every column its own name",
        )
    missing = [c for c in contract.required if c not in df.columns]
    if missing:
        raise DataContractError(
            src,
            f"required but missing; the columns found are {list(map(str, df.columns))}",
            f"a {contract.name} table needs the columns {list(contract.required)}; "
            "rename or add them",
            column=", ".join(missing),
        )
    # shallow: converted columns are assigned, never written into the caller's arrays
    out = (
        df.reset_index(drop=True)
        if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0
        else df.copy(deep=False)
    )
    codes: dict[str, np.ndarray] = {}  # integer codes of the ID columns, for the key check
    for col in contract.columns:
        if col.name in out.columns:
            converted = _convert(
                out, col, contract, src, line_numbers, codes, categorical_ids, date_format
            )
            if converted is not out[col.name]:  # assigning copies: only what changed
                out[col.name] = converted
    if contract.features:
        _typed_features(out, contract, src)
    key = [k for k in contract.key if k in out.columns]
    if key:
        dup = _duplicated(out, key, codes)
        if dup.any():
            raise DataContractError(
                src,
                f"{int(dup.sum())} rows repeat the key ({', '.join(key)})",
                f"keep one row per ({', '.join(key)}): aggregate or drop the duplicates",
                column=key[-1],
                rows=_describe_rows(out, dup, key, line_numbers),
            )
    return out


def _typed_features(out: pd.DataFrame, contract: TableContract, src: str) -> None:
    """In place: each feature column as float64 when every filled cell is a number (or a
    boolean), else as a category of text; empty cells are none. Infinite numbers are
    refused."""
    named = {c.name for c in contract.columns}
    for col in [c for c in out.columns if c not in named]:
        s = out[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            num = s.astype("float64")
        else:
            empty = s.astype(str).str.strip() == "" if s.dtype == object else s.isna()
            filled = s.mask(empty)
            num = pd.to_numeric(filled, errors="coerce")
            if (num.isna() & filled.notna()).any():  # text: a category
                out[col] = filled.astype("string").astype("category")
                continue
        bad = np.isinf(num.to_numpy(dtype="float64"))
        if bad.any():
            raise DataContractError(
                src,
                f"{int(bad.sum())} rows are not finite (inf, or too large)",
                f"give finite '{col}'",
                column=str(col),
                rows=_describe_rows(
                    out, bad, [c for c in ("channel", "ds", col) if c in out], False
                ),
            )
        out[col] = num.astype("float64")


def _duplicated(df: pd.DataFrame, key: list[str], codes: dict[str, np.ndarray]) -> np.ndarray:
    """Rows whose ``key`` repeats, on integer codes (IDs hashed once, dates as integers)."""
    columns = [codes[k] if k in codes else _ordered_codes(df[k]) for k in key]
    # the usual table, each series in one block of increasing dates (in any order of the
    # series): no hashing of tens of millions of rows needed
    series = _combined(columns[:-1], len(df))
    if series is not None and _blocks_increasing(series, columns[-1]):
        return np.zeros(len(df), dtype=bool)
    dense = [codes[k] if k in codes else pd.factorize(df[k])[0] for k in key]
    combined = _combined(dense, len(df))
    if combined is None:  # too many combinations for one integer: hash the columns
        return pd.DataFrame(dict(enumerate(dense))).duplicated(keep=False).to_numpy()
    return pd.Series(combined).duplicated(keep=False).to_numpy()


def _ordered_codes(s: pd.Series) -> np.ndarray:
    """Dates as integers (their order kept), other values as codes of first appearance."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.to_numpy().view("int64")
    return pd.factorize(s)[0]


def _combined(columns: list[np.ndarray], n_rows: int) -> np.ndarray | None:
    """One non-negative integer per row for the tuple of integer ``columns`` (codes, -1 for
    null); none when the combinations overflow an integer."""
    combined = np.zeros(n_rows, dtype=np.int64)
    size = 1
    for code in columns:
        n = int(code.max()) + 2 if len(code) else 1  # -1 (null) included
        if size * n >= 2**62:
            return None
        combined = combined * n + (code + 1)
        size *= n
    return combined


def _blocks_increasing(series: np.ndarray, last: np.ndarray) -> bool:
    """Whether each value of ``series`` is one contiguous block of rows in which ``last``
    strictly increases: then no two rows share (series, last)."""
    if len(series) < 2:
        return True
    same = series[1:] == series[:-1]
    if not (last[1:][same] > last[:-1][same]).all():
        return False
    if int(series.max()) > 8 * len(series):  # too sparse to count in bins: hashing decides
        return False
    n_blocks = len(same) - int(np.count_nonzero(same)) + 1
    return n_blocks == int(np.count_nonzero(np.bincount(series)))


def _convert(
    df: pd.DataFrame,
    col: Column,
    contract: TableContract,
    src: str,
    line_numbers: bool,
    codes: dict[str, np.ndarray],
    categorical_ids: bool = False,
    date_format: str | None = None,
) -> pd.Series:
    s = df[col.name]
    null = s.isna().to_numpy() if col.kind != "id" else np.zeros(0, dtype=bool)
    ident = [c for c in (contract.display or contract.key) if c in df.columns and c != col.name]
    shown = [*ident[:3], col.name]

    def fail(mask: np.ndarray, problem: str, fix: str) -> DataContractError:
        return DataContractError(
            src,
            f"{int(mask.sum())} rows {problem}",
            fix,
            column=col.name,
            rows=_describe_rows(df, mask, shown, line_numbers),
        )

    if col.kind == "id":
        text_categories = isinstance(s.dtype, pd.CategoricalDtype) and (
            pd.api.types.infer_dtype(s.cat.categories, skipna=True) == "string"
        )
        out = s if text_categories else _as_text(s)
        # checked on the distinct values: one hash pass instead of a string operation per row
        code, uniques = pd.factorize(out)
        codes[col.name] = code
        if col.required:
            blank = np.array([str(u).strip() == "" for u in uniques], dtype=bool)
            bad = (code < 0) | np.append(blank, True)[code]
            if bad.any():
                raise fail(bad, "have an empty ID", f"every row needs a '{col.name}'")
        if categorical_ids and not text_categories:
            categories = pd.Index(uniques, dtype=object)
            cat = pd.Categorical.from_codes(code, categories=categories)  # type: ignore[arg-type]
            return pd.Series(cat, index=out.index, name=col.name)
        return out.astype(object) if text_categories and not categorical_ids else out
    if col.kind in ("date", "datetime"):
        out, bad, problem, fix = parse_dates(s, date_format)
        if bad.any():
            raise fail(bad, problem, fix)
        null = out.isna().to_numpy()  # empty cells included
        if col.required and null.any():
            raise fail(null, "have no date", f"every row needs a '{col.name}'")
        return out
    # number / flag
    if s.dtype == "float64":
        num = s
    elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        num = s.astype("float64")
    else:
        num = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = num.isna().to_numpy() & ~null
    if bad.any():
        raise fail(bad, "hold a value that is not a number", f"'{col.name}' must be numeric")
    infinite = np.isinf(num.to_numpy())
    if infinite.any():
        raise fail(infinite, "are not finite (inf, or too large)", f"give finite '{col.name}'")
    if col.required and null.any():
        raise fail(null, "have no value", f"fill '{col.name}' on every row")
    values = num.to_numpy()
    if col.kind == "flag":
        bad = ~np.isnan(values) & ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise fail(bad, "are neither 0 nor 1", f"'{col.name}' is a 0/1 flag")
        if s.dtype == "int8":
            return s
        return num.astype("Int8") if null.any() else num.astype("int8")
    if col.lower is not None:
        with np.errstate(invalid="ignore"):
            bad = values <= col.lower if col.strictly_above else values < col.lower
        if bad.any():
            sign = ">" if col.strictly_above else ">="
            raise fail(
                bad,
                f"are not {sign} {col.lower:g}",
                f"'{col.name}' must be {sign} {col.lower:g}: drop or correct these rows",
            )
    return num


def _as_text(s: pd.Series) -> pd.Series:
    """IDs as text: keep strings as they are; integral numbers lose a trailing ``.0``."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if pd.api.types.infer_dtype(cats, skipna=True) != "string":
            s = s.cat.rename_categories(list(_as_text(pd.Series(cats))))
        return s.astype(object)
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy()
        ok = ~np.isnan(v)
        with np.errstate(invalid="ignore"):  # exact integers only: 2**53 and beyond are not
            integral = ok & (np.floor(v) == v) & (np.abs(v) < 2**53)
        text = np.full(len(v), None, dtype=object)
        text[integral] = v[integral].astype(np.int64).astype(str)
        text[ok & ~integral] = v[ok & ~integral].astype(str)
        return pd.Series(text, index=s.index, dtype=object)
    if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s.astype(str).astype(object)
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "string":
        return s
    return s.map(lambda v: v if v is None or isinstance(v, str) else str(v)).astype(object)


def _describe_rows(
    df: pd.DataFrame, mask: np.ndarray, columns: Sequence[str], line_numbers: bool
) -> str:
    positions = np.flatnonzero(mask)[:MAX_ROWS_SHOWN]
    parts = []
    for pos in positions:
        label = f"line {pos + 2}" if line_numbers else f"row {pos}"
        values = ", ".join(f"{c}={_fmt(df[c].iloc[pos])}" for c in columns)
        parts.append(f"{label} ({values})")
    more = int(mask.sum()) - len(positions)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<empty>"
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ").removesuffix(" 00:00:00")
    text = str(value)
    return text if text.isprintable() else repr(text)  # a newline in a cell: still one line
