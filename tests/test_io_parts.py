"""Reading a large sales file in parts of whole SKUs (what `score` streams through)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.contracts import SALES
from forecasting.data.io import iter_sku_parts, read_table
from forecasting.data.synthetic import SyntheticData
from forecasting.errors import DataContractError


@pytest.mark.parametrize(
    ("suffix", "shuffled", "categorical"),
    [(".csv", False, False), (".parquet", False, True), (".parquet", True, True)],
)
def test_parts_hold_whole_skus_and_add_up_to_the_file(
    world: SyntheticData, tmp_path: Path, suffix: str, shuffled: bool, categorical: bool
) -> None:
    # a Parquet file in SKU order is cut where the SKU changes; others go through hash buckets
    sales = world.sales.sample(frac=1.0, random_state=0) if shuffled else world.sales
    path = tmp_path / f"sales{suffix}"
    if suffix == ".csv":
        sales.to_csv(path, index=False)
    else:
        sales.to_parquet(path, index=False)
    parts = list(
        iter_sku_parts(path, SALES, rows_per_part=len(sales) // 5, categorical_ids=categorical)
    )
    if categorical:
        assert all(isinstance(p["sku_id"].dtype, pd.CategoricalDtype) for p in parts)
        parts = [p.astype({"sku_id": object, "channel": object}) for p in parts]
    assert len(parts) >= 3
    seen = [set(p["sku_id"]) for p in parts]
    assert sum(len(s) for s in seen) == len(set().union(*seen))  # no SKU is split
    whole = read_table(path, SALES)
    got = pd.concat(parts).sort_values(["sku_id", "channel", "ds"]).reset_index(drop=True)
    want = whole.sort_values(["sku_id", "channel", "ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["sku_id"].str.startswith("0").all()  # IDs stay text with their leading zeros
    again = [set(p["sku_id"]) for p in iter_sku_parts(path, SALES, len(sales) // 5)]
    assert again == seen  # the same parts every run


def test_a_contract_violation_names_the_file_and_the_part(
    world: SyntheticData, tmp_path: Path
) -> None:
    sales = world.sales.copy()
    sales.loc[sales.index[-1], "y"] = -3.0
    path = tmp_path / "sales.parquet"
    sales.to_parquet(path, index=False)
    with pytest.raises(DataContractError, match=r"sales.parquet \(part \d+"):
        list(iter_sku_parts(path, SALES, rows_per_part=len(sales) // 4))
