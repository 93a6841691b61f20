"""Transactions -> sales at D, W and M with zero periods filled."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.data.aggregate import transactions_to_sales
from forecasting.errors import ForecastingError


@pytest.fixture
def tx() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["01", "02", "01", "03", "04"],
            "sku_id": ["007", "007", "007", "008", "007"],
            "channel": ["app", "app", "app", "store", "store"],
            "ts": pd.to_datetime(
                [
                    "2024-01-03 09:00",
                    "2024-01-03 18:00",
                    "2024-01-06 10:00",
                    "2024-01-15 10:00",
                    "2024-02-01 08:00",
                ]
            ),
            "quantity": [1.0, 2.0, 4.0, 5.0, 1.0],
            "amount": [10.0, 20.0, 36.0, 5.0, 9.0],
        }
    )


def test_daily_sales_fill_zeros_from_first_sale_to_the_end_of_the_data(tx: pd.DataFrame) -> None:
    sales = transactions_to_sales(tx, "D")
    app = sales[(sales.sku_id == "007") & (sales.channel == "app")]
    assert app["ds"].min() == pd.Timestamp("2024-01-03")
    assert app["ds"].max() == pd.Timestamp("2024-02-01")  # the last day of the whole table
    assert len(app) == 30
    assert app.set_index("ds").loc["2024-01-03", "y"] == 3.0
    assert app.set_index("ds").loc["2024-01-04", "y"] == 0.0
    store8 = sales[(sales.sku_id == "008")]
    assert store8["ds"].min() == pd.Timestamp("2024-01-15")  # no zeros before the first sale
    assert sales["y"].sum() == tx["quantity"].sum()
    assert not sales.duplicated(["sku_id", "channel", "ds"]).any()


def test_weeks_start_on_monday_and_months_on_the_first(tx: pd.DataFrame) -> None:
    weekly = transactions_to_sales(tx, "W")
    assert (weekly["ds"].dt.dayofweek == 0).all()
    app = weekly[weekly.channel == "app"].set_index("ds")["y"]
    assert app.loc["2024-01-01"] == 7.0  # Wed + Sat of the week of Monday 1 January
    assert app.loc["2024-01-08"] == 0.0
    monthly = transactions_to_sales(tx, "M")
    assert (monthly["ds"].dt.day == 1).all()
    assert monthly.groupby("ds")["y"].sum().to_dict() == {
        pd.Timestamp("2024-01-01"): 12.0,
        pd.Timestamp("2024-02-01"): 1.0,
    }


def test_price_is_the_average_unit_price_and_null_without_sales(tx: pd.DataFrame) -> None:
    daily = transactions_to_sales(tx, "D")
    app = daily[daily["channel"] == "app"].set_index("ds")["price"]
    assert app.loc["2024-01-03"] == pytest.approx(10.0)  # (10 + 20) / (1 + 2)
    assert app.loc["2024-01-06"] == pytest.approx(9.0)
    assert pd.isna(app.loc["2024-01-04"])


def test_unknown_frequency_is_a_user_error(tx: pd.DataFrame) -> None:
    with pytest.raises(ForecastingError, match="use D, W or M"):
        transactions_to_sales(tx, "H")
