"""Dense and sparse sales are the same sales: `complete_sales` and everything that counts
periods (classes, slow-mover flags, the predictor's decisions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from forecasting.data.complete import complete_sales, sales_grain
from forecasting.data.contracts import SALES, validate
from forecasting.data.synthetic import SyntheticData, generate_omnichannel
from forecasting.demand.classification import classify_demand
from forecasting.demand.config import DemandConfig
from forecasting.policy.config import PolicyConfig
from forecasting.policy.decide import with_stock
from forecasting.policy.slow_movers import flag_slow_movers
from forecasting.predictor import ElasticSkuPredictor, PredictorConfig

KEYS = ["sku_id", "channel", "ds"]


def sparse_form(sales: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """``sales`` without the rows that say nothing a missing row does not: no sale, no
    promotion, the series' last known price and stock. Shuffled: row order means nothing."""
    s = sales.sort_values(KEYS).reset_index(drop=True)
    series = [s["sku_id"], s["channel"]]
    quiet = (s["y"] == 0) & (s.get("promo", 0) == 0)
    for col in ("price", "on_hand"):
        if col in s.columns:
            carried = s.groupby(series)[col].ffill().groupby(series).shift()
            quiet &= s[col].isna() | (s[col] == carried)
    return s[~quiet].sample(frac=1.0, random_state=seed)


def by_key(df: pd.DataFrame, key: str | list[str]) -> pd.DataFrame:
    return df.sort_values(key).reset_index(drop=True)


@pytest.fixture(scope="module")
def small_world() -> SyntheticData:
    return generate_omnichannel(n_skus=60, n_days=300, seed=12)


def test_a_dense_table_comes_back_as_it_is_and_a_sparse_one_dense() -> None:
    dates = pd.date_range("2024-01-01", periods=10)
    dense = validate(
        pd.DataFrame(
            {
                "sku_id": ["00042"] * 10 + ["00043"],
                "channel": ["app"] * 11,
                "ds": [*dates, dates[-1]],
                "y": [0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 4],
                "price": [np.nan, np.nan, 2.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 1.0],
                "on_hand": [5, 5, 2, 2, 2, 9, 9, 9, 9, 9, 0],
            }
        ),
        SALES,
    )
    trimmed = dense.iloc[2:].reset_index(drop=True)  # from the first sale
    assert complete_sales(trimmed) is trimmed
    # the sale days and the day the price changed; the end of the data is the table's
    sparse = dense.iloc[[10, 5, 2, 4]]
    assert_frame_equal(complete_sales(sparse), trimmed)


def test_series_end_at_the_end_of_the_table_and_unsold_series_stay_as_given() -> None:
    sales = validate(
        pd.DataFrame(
            {
                "sku_id": ["1", "2", "3", "3"],
                "channel": "store",
                "ds": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-05"]),
                "y": [1, 2, 0, 0],
            }
        ),
        SALES,
    )
    got = by_key(complete_sales(sales), KEYS)
    assert got.groupby("sku_id").size().to_dict() == {"1": 5, "2": 3, "3": 2}
    assert got["ds"].max() == pd.Timestamp("2024-01-05")
    assert got["y"].sum() == 3


@pytest.mark.parametrize(
    ("dates", "grain"),
    [
        (pd.date_range("2024-01-01", periods=6, freq="W-MON"), "W"),
        (pd.date_range("2024-01-01", periods=6, freq="MS"), "M"),
        (pd.date_range("2024-01-31", periods=6, freq="ME"), "M"),
        (pd.date_range("2024-01-01", periods=6, freq="D"), "D"),
    ],
)
def test_weeks_and_months_are_filled_on_their_own_grid(dates: pd.DatetimeIndex, grain: str) -> None:
    dense = validate(
        pd.DataFrame({"sku_id": "a", "channel": "app", "ds": dates, "y": [1, 0, 0, 2, 0, 5]}),
        SALES,
    )
    assert sales_grain(dense["ds"]) == grain
    sparse = dense[dense["y"] > 0]
    assert_frame_equal(complete_sales(sparse, grain=grain), dense)  # type: ignore[arg-type]


def test_classes_and_flags_are_the_same_from_dense_and_sparse_rows(
    small_world: SyntheticData,
) -> None:
    dense = with_stock(validate(small_world.sales, SALES), small_world.inventory)
    sparse = validate(sparse_form(dense), SALES)
    assert len(sparse) < 0.8 * len(dense)
    for by in (["sku_id"], ["sku_id", "channel"]):
        assert_frame_equal(
            by_key(classify_demand(sparse, by=by), by), by_key(classify_demand(dense, by=by), by)
        )
    weekly = pd.Series(1.0, index=pd.Index(dense["sku_id"].unique(), name="sku_id"))
    stock = dense.dropna(subset=["on_hand"])[["sku_id", "channel", "on_hand"]]
    flags = [flag_slow_movers(t, stock, weekly, PolicyConfig()) for t in (dense, sparse)]
    assert_frame_equal(by_key(flags[1], "sku_id"), by_key(flags[0], "sku_id"))
    assert flags[0]["slow_mover"].any()


def test_the_predictor_decides_the_same_from_dense_and_sparse_sales(
    small_world: SyntheticData,
) -> None:
    """Every output column, on the SKUs with a sale (a SKU that never sold has no rows in
    a sparse table)."""
    assert small_world.transactions is not None
    cfg = PredictorConfig(
        demand=DemandConfig(horizon=14, lgb_n_estimators=40, local_models=("CrostonSBA",))
    )
    predictor = ElasticSkuPredictor(cfg).fit(small_world.transactions, small_world.sales)
    dense = with_stock(validate(small_world.sales, SALES), small_world.inventory)
    sparse = sparse_form(dense, seed=3)
    got = by_key(predictor.predict(sparse), "sku_id")
    expected = by_key(predictor.predict(dense), "sku_id")
    expected = expected[expected["sku_id"].isin(got["sku_id"])].reset_index(drop=True)
    assert len(expected) >= 0.9 * dense["sku_id"].nunique()
    assert_frame_equal(got, expected)


def test_a_price_is_carried_within_its_series_only_and_ids_keep_their_categories() -> None:
    sales = validate(
        pd.DataFrame(
            {
                "sku_id": ["007", "007", "008", "008"],
                "channel": "app",
                "ds": pd.to_datetime(["2024-01-01", "2024-01-04", "2024-01-02", "2024-01-04"]),
                "y": [1, 2, 3, 1],
                "price": [4.0, 5.0, np.nan, 6.0],
                "promo": [1, 0, 0, 1],
            }
        ),
        SALES,
        categorical_ids=True,
    )
    got = complete_sales(sales)
    assert got.dtypes.to_dict() == sales.dtypes.to_dict()
    got = by_key(got.astype({"sku_id": str, "channel": str}), KEYS)
    # 007 carries 4.0 over its two added days; 008's unknown first price stays unknown
    # (not 007's), and added days have no promotion
    assert got["price"].tolist()[:4] == [4.0, 4.0, 4.0, 5.0]
    assert np.isnan(got["price"].iloc[4]) and np.isnan(got["price"].iloc[5])
    assert got["price"].iloc[6] == 6.0
    assert got["promo"].tolist() == [1, 0, 0, 0, 0, 0, 1]
