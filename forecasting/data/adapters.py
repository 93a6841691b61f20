"""Adapters from the public datasets in ``../shared/data`` to the contracts of DESIGN.md.

* `load_m5`: the M5 (Walmart) subset -> sales with price and SNAP, plus a SKU table.
* `load_online_retail`: both UCI Online Retail files -> clean transactions.
* `load_carparts`: Hyndman's car parts -> monthly sales.

The data is not shipped with the package; each function takes the folder or file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.contracts import CALENDAR, SALES, SKUS, TRANSACTIONS, validate
from forecasting.errors import ForecastingError

log = logging.getLogger(__name__)

#: Stock codes of the Online Retail files that are fees, postage or adjustments, not goods.
NON_PRODUCT_CODES = re.compile(
    r"^(POST|DOT|M|C2|D|S|B|PADS|CRUK|AMAZONFEE|BANK CHARGES|GIFT|ADJUST\d*|TEST\d*|gift_.*)$",
    re.IGNORECASE,
)


def _need(path: Path) -> Path:
    if not path.exists():
        raise ForecastingError(f"{path}: not found (see ../shared/data/README.md)")
    return path


def load_m5(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """M5 subset -> (sales, skus).

    sales: ``sku_id`` = item_id, ``channel`` = store_id, ``ds`` = date, ``y`` = sales,
    ``price`` = sell_price (null before launch), plus ``snap`` (0/1) and ``d`` (``d_1``...).
    skus: ``sku_id``, ``category`` (cat_id), ``department`` (dept_id).
    """
    path = _need(Path(folder) / "sales_train.csv.gz")
    raw = pd.read_csv(
        path,
        dtype={"item_id": str, "dept_id": str, "cat_id": str, "store_id": str, "d": str},
        parse_dates=["date"],
    )
    sales = pd.DataFrame(
        {
            "sku_id": raw["item_id"],
            "channel": raw["store_id"],
            "ds": raw["date"],
            "y": raw["sales"].astype("float64"),
            "price": raw["sell_price"].astype("float64"),
            "snap": raw["snap"].astype("int8"),
            "d": raw["d"],
        }
    )
    skus = (
        raw[["item_id", "cat_id", "dept_id"]]
        .drop_duplicates("item_id")
        .rename(columns={"item_id": "sku_id", "cat_id": "category", "dept_id": "department"})
        .reset_index(drop=True)
    )
    return validate(sales, SALES, str(path)), validate(skus, SKUS, str(path))


def load_m5_calendar(folder: str | Path, stores: Iterable[str]) -> pd.DataFrame:
    """M5's ``calendar.csv`` -> the calendar contract, one row per store (``channel``) and
    day: ``event_name_1``, ``event_type_1``, ``event_name_2``, ``event_type_2`` (text, empty
    without an event) and ``snap`` (1 on the SNAP days of the store's state: ``CA_1`` reads
    ``snap_CA``)."""
    path = _need(Path(folder) / "calendar.csv")
    raw = pd.read_csv(path, parse_dates=["date"], keep_default_na=False, na_values=["NA", ""])
    events = ["event_name_1", "event_type_1", "event_name_2", "event_type_2"]
    rows = []
    for store in sorted(set(stores)):
        state = store.split("_")[0]
        column = f"snap_{state}"
        if column not in raw.columns:
            raise ForecastingError(f"{path}: no {column} column for store {store}")
        rows.append(
            raw[["date", *events]]
            .rename(columns={"date": "ds"})
            .assign(channel=store, snap=raw[column].astype("float64"))
        )
    return validate(pd.concat(rows, ignore_index=True), CALENDAR, str(path))


def load_online_retail(folder: str | Path) -> pd.DataFrame:
    """Both UCI Online Retail files -> clean transactions.

    ``customer_id`` = Customer ID (as text, no ``.0``), ``sku_id`` = StockCode,
    ``channel`` = Country, ``ts`` = InvoiceDate, ``quantity``, ``amount`` = quantity x price,
    ``order_id`` = Invoice, plus ``description``. Dropped, in this order, and counted in one
    log line: invoices of the second file already in the first (the December 2010 overlap),
    cancellations (invoice starting with C), lines with quantity or price <= 0, lines
    without a customer, and fees / postage / adjustments (`NON_PRODUCT_CODES`).
    """
    folder = Path(folder)
    first = pd.read_parquet(_need(folder / "online_retail_ii_2009_2010.parquet"))
    second = pd.read_parquet(_need(folder / "online_retail_2010_2011.parquet"))
    second = second.rename(
        columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
    )
    cols = [
        "Invoice",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "Price",
        "Customer ID",
        "Country",
    ]
    first, second = first[cols], second[cols]
    n_read = len(first) + len(second)
    overlap = second["Invoice"].isin(set(first["Invoice"]))
    df = pd.concat([first, second[~overlap]], ignore_index=True)
    df["Invoice"] = df["Invoice"].astype(str)
    df["StockCode"] = df["StockCode"].astype(str).str.strip()
    steps = {
        "December 2010 overlap": int(overlap.sum()),
    }
    masks = {
        "cancellations": df["Invoice"].str.startswith("C"),
        "quantity or price <= 0": (df["Quantity"] <= 0) | (df["Price"] <= 0),
        "no customer": df["Customer ID"].isna(),
        "fees and adjustments": df["StockCode"].str.match(NON_PRODUCT_CODES),
    }
    keep = np.ones(len(df), dtype=bool)
    for name, mask in masks.items():
        m = mask.to_numpy(dtype=bool) & keep
        steps[name] = int(m.sum())
        keep &= ~m
    df = df.loc[keep]
    tx = pd.DataFrame(
        {
            "customer_id": df["Customer ID"].astype("int64").astype(str),
            "sku_id": df["StockCode"],
            "channel": df["Country"].astype(str),
            "ts": pd.to_datetime(df["InvoiceDate"]),
            "quantity": df["Quantity"].astype("float64"),
            "amount": (df["Quantity"] * df["Price"]).round(2),
            "order_id": df["Invoice"],
            "description": df["Description"].astype(str),
        }
    ).reset_index(drop=True)
    log.info(
        "online retail: %d lines read, dropped %s; kept %d lines, %d customers, %d SKUs",
        n_read,
        ", ".join(f"{n} {name}" for name, n in steps.items()),
        len(tx),
        tx["customer_id"].nunique(),
        tx["sku_id"].nunique(),
    )
    return validate(tx, TRANSACTIONS, str(folder))


def load_carparts(path: str | Path) -> pd.DataFrame:
    """Car parts -> monthly sales (``ds`` = first day of the month, one channel ``all``).

    Missing months in this dataset are trailing (parts discontinued in 1999): those rows are
    dropped, so each series ends at its last observed month.
    """
    path = _need(Path(path))
    raw = pd.read_csv(path, dtype={"part_id": str, "month": str})
    raw = raw[raw["sales"].notna()]
    sales = pd.DataFrame(
        {
            "sku_id": raw["part_id"],
            "channel": "all",
            "ds": pd.to_datetime(raw["month"], format="%Y-%m"),
            "y": raw["sales"].astype("float64"),
        }
    ).reset_index(drop=True)
    return validate(sales, SALES, str(path))
