"""Fuzzing the contracts: random tables, columns, values and encodings through `validate`
and `read_table`. Every outcome is a valid table or one `DataContractError` (a
`ForecastingError` for the file itself), never another exception; what is accepted keeps
the contract's promises.

A few hundred examples run in CI; ``FORECASTING_FUZZ_EXAMPLES=5000 pytest -m slow
tests/test_fuzz.py`` runs thousands.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.data.contracts import CONTRACTS, TableContract, validate
from forecasting.data.io import read_table
from forecasting.errors import DataContractError, ForecastingError

EXAMPLES = int(os.environ.get("FORECASTING_FUZZ_EXAMPLES", "250"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI failure can be replayed
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

texts = st.one_of(
    st.sampled_from(["", " ", "00042", "42", "a,b", 'q"uote', "店铺", "🛒", "NaN", "inf",
                     "-1", "1e400", "true", "2024-01-05", "05/01/2024", "2024-01-05T10:00+08:00",
                     "2024-01-05T10:00Z", "9999-12-31", "1500-01-01", "2024-13-45", "\u00e9"]),
    st.text(max_size=8),
)  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.5, -0.0, 1e308]),
)
dates = st.one_of(
    st.datetimes(min_value=pd.Timestamp("1000-01-01").to_pydatetime(),
                 max_value=pd.Timestamp("9999-12-31").to_pydatetime()),
    st.dates().map(str),
)  # fmt: skip
cells = st.one_of(st.none(), texts, numbers, dates, st.booleans())


@st.composite
def tables(draw: Any) -> tuple[TableContract, pd.DataFrame]:
    contract = draw(st.sampled_from(sorted(CONTRACTS.values(), key=lambda c: c.name)))
    names = [c.name for c in contract.columns]
    columns = draw(st.lists(st.sampled_from([*names, "extra", "y"]), min_size=0, max_size=9))
    if draw(st.booleans()):  # usually the required columns, so that values are reached
        columns = [*contract.required, *columns]
    n = draw(st.integers(min_value=0, max_value=6))
    kinds = {c.name: c.kind for c in contract.columns}
    data = []
    for name in columns:
        kind = kinds.get(name)
        typical = {"id": texts, "number": numbers, "flag": st.sampled_from([0, 1]),
                   "date": dates, "datetime": dates}.get(kind or "", cells)  # fmt: skip
        strategy = st.one_of(typical, cells) if draw(st.booleans()) else typical
        data.append(draw(st.lists(strategy, min_size=n, max_size=n)))
    frame = pd.DataFrame(dict(enumerate(data))) if data else pd.DataFrame(index=range(n))
    frame.columns = columns
    return contract, frame


def check_accepted(out: pd.DataFrame, contract: TableContract) -> None:
    """What a valid table promises."""
    assert set(contract.required) <= set(out.columns)
    for col in contract.columns:
        if col.name not in out.columns:
            continue
        s = out[col.name]
        if col.kind == "id":
            assert all(isinstance(v, str) for v in s.dropna()), col.name
            if col.required:
                assert s.notna().all()
        elif col.kind in ("date", "datetime"):
            assert s.dtype == "datetime64[ns]", col.name
            if col.required:
                assert s.notna().all()
        elif col.kind == "number":
            values = s.to_numpy(dtype="float64")
            assert not np.isinf(values).any(), col.name
            if col.lower is not None:
                known = values[~np.isnan(values)]
                assert (
                    (known > col.lower).all() if col.strictly_above else (known >= col.lower).all()
                )
    key = [k for k in contract.key if k in out.columns]
    if key and len(out):
        assert not out.duplicated(key).any()


@FUZZ
@given(tables())
def test_validate_accepts_or_says_what_is_wrong(case: tuple[TableContract, pd.DataFrame]) -> None:
    contract, frame = case
    try:
        out = validate(frame, contract, "fuzz")
    except DataContractError as exc:
        assert str(exc).startswith("fuzz") and "\n" not in str(exc)
        return
    check_accepted(out, contract)


ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252", "gzip")


@FUZZ
@given(tables(), st.sampled_from(ENCODINGS), st.sampled_from([",", ";"]))
def test_files_are_read_or_refused_in_one_line(
    case: tuple[TableContract, pd.DataFrame], encoding: str, sep: str
) -> None:
    contract, frame = case
    text = frame.to_csv(index=False, sep=sep)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("t.csv.gz" if encoding == "gzip" else "t.csv")
        if encoding == "gzip":
            path.write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            try:
                path.write_bytes(text.encode(encoding))
            except UnicodeEncodeError:
                return  # not writable in this encoding: nothing to read
        try:
            out = read_table(path, contract)
        except ForecastingError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            return
    assert encoding in ("utf-8", "utf-8-sig", "gzip") or text.isascii()
    check_accepted(out, contract)


@pytest.mark.slow
@pytest.mark.skipif(
    "FORECASTING_FUZZ_EXAMPLES" not in os.environ,
    reason="set FORECASTING_FUZZ_EXAMPLES (e.g. 4000) for the long run; CI keeps to minutes",
)
def test_thousands_of_examples_when_asked() -> None:
    """The long run: ``FORECASTING_FUZZ_EXAMPLES`` examples of both tests."""
    many = settings(FUZZ, max_examples=EXAMPLES)
    many(given(tables())(test_validate_accepts_or_says_what_is_wrong.hypothesis.inner_test))()
    many(
        given(tables(), st.sampled_from(ENCODINGS), st.sampled_from([",", ";"]))(
            test_files_are_read_or_refused_in_one_line.hypothesis.inner_test
        )
    )()
