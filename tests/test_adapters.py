"""The three real datasets of ../shared/data through their adapters."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.adapters import load_carparts, load_m5, load_online_retail
from forecasting.demand.classification import classify_demand

pytestmark = pytest.mark.slow


def test_m5_subset_becomes_sales_with_price(shared_data: Path) -> None:
    sales, skus = load_m5(shared_data / "m5_tiny")
    assert len(sales) == 535_640
    assert sales.groupby(["sku_id", "channel"]).ngroups == 280
    assert sales["ds"].min().isoformat()[:10] == "2011-01-29"
    assert sales["ds"].max().isoformat()[:10] == "2016-04-24"
    no_price = sales["price"].isna()
    assert no_price.any() and (sales.loc[no_price, "y"] == 0).all()  # before launch
    assert set(skus["category"]) <= {"FOODS", "HOBBIES", "HOUSEHOLD"}
    # the README's facts: 50.6% zeros and the Syntetos-Boylan mix
    assert (sales["y"] == 0).mean() == pytest.approx(0.506, abs=0.001)
    counts = classify_demand(sales)["demand_class"].value_counts().to_dict()
    assert counts == {"intermittent": 124, "lumpy": 53, "erratic": 53, "smooth": 50}


def test_online_retail_is_cleaned_and_counted(
    shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="forecasting.data.adapters"):
        tx = load_online_retail(shared_data / "online_retail")
    lines = [r.getMessage() for r in caplog.records if "online retail" in r.getMessage()]
    assert len(lines) == 1
    assert "1067370 lines read" in lines[0] and "cancellations" in lines[0]
    assert "December 2010 overlap" in lines[0]
    assert (tx["quantity"] > 0).all() and (tx["amount"] > 0).all()
    assert not tx["order_id"].str.startswith("C").any()
    assert not tx["customer_id"].str.contains(".", regex=False).any()
    assert not tx["sku_id"].isin(["POST", "DOT", "M", "BANK CHARGES"]).any()
    # the December 2010 overlap is counted once: never more lines than the first file has
    first = pd.read_parquet(shared_data / "online_retail" / "online_retail_ii_2009_2010.parquet")
    december = first.loc[first["InvoiceDate"] >= "2010-12-01", "Invoice"]
    kept = tx["order_id"].isin(set(december)).sum()
    assert 0.5 * len(december) < kept <= len(december)
    assert tx["ts"].min().isoformat()[:10] == "2009-12-01"
    assert tx["ts"].max().isoformat()[:10] == "2011-12-09"
    buys = tx.groupby("customer_id")["order_id"].nunique()
    assert 0.6 < (buys >= 2).mean() < 0.75  # README: about two thirds bought twice


def test_carparts_become_monthly_sales(shared_data: Path) -> None:
    sales = load_carparts(shared_data / "carparts" / "carparts_long.csv.gz")
    assert sales["sku_id"].nunique() == 2674
    assert (sales["ds"].dt.day == 1).all()
    assert set(sales["channel"]) == {"all"}
    assert sales["y"].notna().all()
    assert len(sales) == pytest.approx(2674 * 51 * (1 - 0.045), rel=0.001)  # 4.5% missing
    assert (sales["y"] == 0).sum() / (2674 * 51) == pytest.approx(0.71, abs=0.01)
    assert sales["sku_id"].str.len().eq(8).all()
