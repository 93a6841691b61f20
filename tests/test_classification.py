"""Syntetos-Boylan classes, ABC and recency on series whose statistics are known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.demand.classification import classify_demand, syntetos_boylan


def panel(
    series: dict[tuple[str, str], list[float]], prices: dict[str, float] | None = None
) -> pd.DataFrame:
    frames = []
    for (sku, ch), ys in series.items():
        frames.append(
            pd.DataFrame(
                {
                    "sku_id": sku,
                    "channel": ch,
                    "ds": pd.date_range("2024-01-01", periods=len(ys), freq="D"),
                    "y": ys,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    if prices:
        df["price"] = df["sku_id"].map(prices)
    return df


def test_cutoffs_map_to_the_four_classes() -> None:
    got = syntetos_boylan([1.0, 1.0, 2.0, 2.0, np.nan], [0.1, 0.6, 0.1, 0.6, np.nan])
    assert got.tolist() == ["smooth", "erratic", "intermittent", "lumpy", "no_demand"]
    # the cut-off values themselves belong to the upper classes
    assert syntetos_boylan([1.32], [0.49]).tolist() == ["lumpy"]


def test_adi_cv2_from_first_sale_with_population_variance() -> None:
    sales = panel(
        {
            ("A", "app"): [0, 0, 4, 0, 2, 0, 6, 0],  # leading zeros are not counted
            ("B", "app"): [5, 5, 5, 5, 5, 5, 5, 5],
            ("C", "app"): [0, 0, 0, 0, 0, 0, 0, 0],
        }
    )
    stats = classify_demand(sales).set_index("sku_id")
    assert stats.loc["A", "n_periods"] == 6
    assert stats.loc["A", "adi"] == pytest.approx(2.0)
    sizes = np.array([4.0, 2.0, 6.0])
    assert stats.loc["A", "cv2"] == pytest.approx(sizes.var() / sizes.mean() ** 2)
    assert stats.loc["A", "demand_class"] == "intermittent"
    assert stats.loc["A", "days_since_last_sale"] == 1
    assert stats.loc["B", "demand_class"] == "smooth"
    assert stats.loc["C", "demand_class"] == "no_demand"


def test_sku_total_sums_channels_before_classifying() -> None:
    sales = panel({("A", "app"): [1, 0, 1, 0], ("A", "store"): [0, 1, 0, 1]})
    per_series = classify_demand(sales)
    assert set(per_series["demand_class"]) == {"intermittent"}
    per_sku = classify_demand(sales, by=("sku_id",))
    assert per_sku["demand_class"].tolist() == ["smooth"]
    assert per_sku["adi"].tolist() == [1.0]


def test_abc_ranks_by_revenue_when_prices_exist_else_by_units() -> None:
    series = {("A", "x"): [10] * 4, ("B", "x"): [1] * 4, ("C", "x"): [100] * 4}
    by_units = classify_demand(panel(series)).set_index("sku_id")["abc"]
    assert by_units.to_dict() == {"A": "B", "B": "C", "C": "A"}
    by_revenue = classify_demand(panel(series, {"A": 1.0, "B": 1000.0, "C": 1.0})).set_index(
        "sku_id"
    )["abc"]
    assert by_revenue["B"] == "A"


def test_per_period_sums_the_same_on_the_dense_grid_and_by_hashing() -> None:
    from forecasting.data import groups

    rng = np.random.default_rng(2)
    group = rng.integers(0, 50, 5000)
    day = (np.datetime64("2024-01-01") + rng.integers(0, 300, 5000)).astype("datetime64[ns]")
    y = rng.poisson(3.0, 5000).astype(float)
    dense = groups.per_period(group, 50, day.view("int64"), [y])
    # dates not on whole days: no grid, factorized
    hashed = groups.per_period(group, 50, day.view("int64") + 1, [y])
    expected = pd.DataFrame({"g": group, "d": day, "y": y}).groupby(["g", "d"])["y"].sum()
    for g, d, (sums,) in (dense, (hashed[0], hashed[1] - 1, hashed[2])):
        np.testing.assert_array_equal(g, expected.index.get_level_values(0))
        np.testing.assert_array_equal(d, expected.index.get_level_values(1).view("int64"))
        np.testing.assert_allclose(sums, expected.to_numpy())
