"""Every contract violation of DESIGN.md: one clear message, exit 1, no traceback, no output."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from forecasting.cli import main
from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS, validate
from forecasting.data.io import read_table, write_table
from forecasting.errors import DataContractError

TX_HEADER = "customer_id,sku_id,channel,ts,quantity,amount\n"
GOOD_TX = (
    TX_HEADER
    + "007,00042,app,2024-01-01 10:00:00,2,10.0\n"
    + "008,00042,store,2024-01-03 11:00:00,1,5.0\n"
    + "007,00042,app,2024-01-09 12:00:00,3,15.0\n"
)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# (name, file content, column named in the message, words of the problem, first bad line)
TX_VIOLATIONS = [
    (
        "missing_column",
        "customer_id,sku_id,ts,quantity\n1,2,2024-01-01,1\n",
        "channel",
        "required but missing",
        None,
    ),
    (
        "wrong_type",
        TX_HEADER + "1,2,app,2024-01-01,two,1\n1,2,app,2024-01-02,1,1\n",
        "quantity",
        "not a number",
        "line 2",
    ),
    (
        "negative_quantity",
        TX_HEADER + "1,2,app,2024-01-01,1,1\n1,2,app,2024-01-02,-3,1\n",
        "quantity",
        "not > 0",
        "line 3",
    ),
    ("unparseable_date", TX_HEADER + "1,2,app,2024-13-45,1,1\n", "ts", "not an ISO date", "line 2"),
    ("empty_file", "", None, "empty", None),
    ("header_only", TX_HEADER, None, "empty", None),
    ("empty_id", TX_HEADER + "1,,app,2024-01-01,1,1\n", "sku_id", "empty ID", "line 2"),
]


@pytest.mark.parametrize(
    ("content", "column", "problem", "line"),
    [v[1:] for v in TX_VIOLATIONS],
    ids=[v[0] for v in TX_VIOLATIONS],
)
def test_transaction_violations_exit_non_zero_with_one_message_and_no_output(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    column: str | None,
    problem: str,
    line: str | None,
) -> None:
    src = write(tmp_path / "tx.csv", content)
    out = tmp_path / "sales.csv"
    code, stdout, err = run_cli(
        capsys,
        "sales-from-transactions",
        "--transactions",
        str(src),
        "--freq",
        "D",
        "--output",
        str(out),
    )
    assert code == 1
    assert stdout == ""
    assert len(err.strip().splitlines()) == 1, err
    assert str(src) in err
    assert problem in err
    assert "Fix:" in err
    if column:
        assert f"column '{column}'" in err
    if line:
        assert line in err
    assert "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temp file left either


def test_duplicate_sales_key_names_the_key_and_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write(
        tmp_path / "sales.csv",
        "sku_id,channel,ds,y\n001,app,2024-01-01,1\n001,app,2024-01-02,2\n001,app,2024-01-01,5\n",
    )
    code, _, err = run_cli(capsys, "validate", "--table", "sales", str(src))
    assert code == 1
    assert "2 rows repeat the key (sku_id, channel, ds)" in err
    assert "line 2 (sku_id=001, channel=app, ds=2024-01-01)" in err
    assert "line 4" in err


@pytest.mark.parametrize("categorical_ids", [False, True])
@pytest.mark.parametrize(
    "order",
    [
        "sorted",  # by series, then day: a repeat sits next to its twin
        "series in two blocks",  # each block's days increase; the repeat is in the other
        "days by day",  # the series interleaved, a day at a time
        "shuffled",
    ],
)
def test_a_repeated_key_is_found_however_the_rows_are_ordered(
    order: str, categorical_ids: bool
) -> None:
    days = pd.date_range("2024-01-01", periods=5)
    base = pd.DataFrame(
        [(s, c, d) for s in ("007", "010") for c in ("app", "store") for d in days],
        columns=["sku_id", "channel", "ds"],
    ).assign(y=1.0)
    twin = base[(base["sku_id"] == "010") & (base["channel"] == "app")].iloc[[2]]
    if order == "sorted":
        sales = pd.concat([base, twin]).sort_values(["sku_id", "channel", "ds"], kind="stable")
    elif order == "series in two blocks":
        sales = pd.concat([base, twin])
    elif order == "days by day":
        sales = pd.concat([base, twin]).sort_values("ds", kind="stable")
    else:
        sales = pd.concat([base, twin]).sample(frac=1.0, random_state=7)
    # the clean table passes in each order (a series in one block, or not)
    assert len(validate(base.loc[sales.index.unique()], SALES)) == len(base)
    with pytest.raises(DataContractError, match="2 rows repeat the key") as err:
        validate(sales, SALES, categorical_ids=categorical_ids)
    assert "sku_id=010, channel=app, ds=2024-01-03" in str(err.value)


@pytest.mark.parametrize(
    ("contract", "frame", "column", "problem"),
    [
        (
            SALES,
            {"sku_id": ["1"], "channel": ["a"], "ds": ["2024-01-01"], "y": [-1]},
            "y",
            "not >= 0",
        ),
        (INVENTORY, {"sku_id": ["1"], "channel": ["a"], "on_hand": [-2]}, "on_hand", "not >= 0"),
        (
            SALES,
            {"sku_id": ["1"], "channel": ["a"], "ds": ["x"], "y": [1]},
            "ds",
            "not an ISO date",
        ),
        (
            SALES,
            {"sku_id": ["1"], "channel": ["a"], "ds": ["2024-01-01"], "y": [None]},
            "y",
            "no value",
        ),
        (
            SALES,
            {"sku_id": ["1"], "channel": ["a"], "ds": ["2024-01-01"], "y": [1], "promo": [2]},
            "promo",
            "neither 0 nor 1",
        ),
        (SKUS, {"sku_id": ["1", "1"]}, "sku_id", "repeat the key"),
        (SKUS, {"category": ["x"]}, "sku_id", "required but missing"),
    ],
)
def test_dataframe_violations_raise_data_contract_error(contract, frame, column, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataContractError) as info:
        validate(pd.DataFrame(frame), contract, "my_table")
    assert str(info.value).startswith("my_table")
    assert problem in str(info.value)
    assert info.value.column == column


def test_ids_stay_text_with_leading_zeros_from_csv_and_gz(tmp_path: Path) -> None:
    src = write(tmp_path / "tx.csv", GOOD_TX)
    gz = tmp_path / "tx.csv.gz"
    gz.write_bytes(gzip.compress(GOOD_TX.encode()))
    for path in (src, gz):
        tx = read_table(path, TRANSACTIONS)
        assert tx["customer_id"].tolist() == ["007", "008", "007"]
        assert tx["sku_id"].unique().tolist() == ["00042"]
        assert tx["ts"].dtype == "datetime64[ns]"


def test_parquet_numeric_ids_become_text_without_decimal(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "customer_id": [13085.0, 12.0],
            "sku_id": [42, 43],
            "channel": ["UK", "UK"],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "quantity": [1, 2],
        }
    )
    path = tmp_path / "tx.parquet"
    df.to_parquet(path)
    tx = read_table(path, TRANSACTIONS)
    assert tx["customer_id"].tolist() == ["13085", "12"]
    assert tx["sku_id"].tolist() == ["42", "43"]


def test_nulls_in_optional_columns_leading_zeros_and_extra_columns_are_fine(tmp_path: Path) -> None:
    src = write(
        tmp_path / "sales.csv",
        "sku_id,channel,ds,y,price,promo,note\n"
        "00001,app,2024-01-01,0,,,before launch\n"
        "00001,app,2024-01-02,0,,0,\n"
        "00001,app,2024-01-03,4,2.5,1,first sale\n",
    )
    sales = read_table(src, SALES)
    assert sales["price"].isna().sum() == 2
    assert sales["promo"].isna().sum() == 1
    assert sales["note"].tolist()[2] == "first sale"
    assert sales["y"].tolist() == [0.0, 0.0, 4.0]


def test_an_id_spelled_na_is_an_id_not_a_null(tmp_path: Path) -> None:
    src = write(tmp_path / "inv.csv", "sku_id,channel,on_hand\nNA,app,3\n")
    assert read_table(src, INVENTORY)["sku_id"].tolist() == ["NA"]


def test_unknown_extension_and_missing_file_are_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "validate", "--table", "sales", str(tmp_path / "s.xlsx"))
    assert code == 1 and "unknown file type" in err
    code, _, err = run_cli(capsys, "validate", "--table", "sales", str(tmp_path / "none.csv"))
    assert code == 1 and "file not found" in err


def test_write_table_is_atomic_and_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    write_table(pd.DataFrame({"a": [1]}), target)
    bad = pd.DataFrame({"a": [object()]})  # pyarrow cannot write this
    with pytest.raises(Exception):  # noqa: B017 - any writer error
        write_table(bad, target)
    assert pd.read_parquet(target)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_console_script_reports_error_without_traceback(tmp_path: Path) -> None:
    src = write(tmp_path / "sales.csv", "sku_id,channel,ds,y\n1,a,2024-01-01,-5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "forecasting.cli", "validate", "--table", "sales", str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"{src}: column 'y': 1 rows are not >= 0" in proc.stderr
