"""The calendar and future-plan contracts (issue #16's groundwork): typed features, the
key, the coverage check, and M5's calendar through the adapter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.cli import main
from forecasting.data.adapters import load_m5, load_m5_calendar
from forecasting.data.calendar import check_covers, first_uncovered_day
from forecasting.data.contracts import CALENDAR, FUTURE, validate
from forecasting.errors import DataContractError


def test_calendar_features_are_numbers_or_categories_and_empty_is_none() -> None:
    cal = validate(
        pd.DataFrame(
            {
                "ds": ["2024-01-01", "2024-01-02", "2024-01-03"],
                "event": ["", "SuperBowl", None],
                "snap": ["1", "0", ""],
                "payday": [True, False, True],
            }
        ),
        CALENDAR,
    )
    assert isinstance(cal["event"].dtype, pd.CategoricalDtype)
    assert list(cal["event"].cat.categories) == ["SuperBowl"] and cal["event"].isna().sum() == 2
    assert cal["snap"].dtype == "float64" and cal["snap"].isna().sum() == 1
    assert cal["payday"].tolist() == [1.0, 0.0, 1.0]


def test_a_day_twice_for_one_channel_and_infinite_features_are_refused() -> None:
    twice = pd.DataFrame({"ds": ["2024-01-01"] * 2, "channel": ["app", "app"]})
    with pytest.raises(DataContractError, match=r"repeat the key \(channel, ds\)"):
        validate(twice, CALENDAR)
    with pytest.raises(DataContractError, match=r"'lift'.*not finite"):
        validate(pd.DataFrame({"ds": ["2024-01-01"], "lift": [float("inf")]}), CALENDAR)
    plan = pd.DataFrame({"sku_id": ["1"], "channel": ["app"], "ds": ["2024-01-01"],
                         "price": [-1.0]})  # fmt: skip
    with pytest.raises(DataContractError, match="'price'"):
        validate(plan, FUTURE)


def test_coverage_names_the_first_missing_day_and_its_channel() -> None:
    days = pd.date_range("2024-01-01", "2024-01-10")
    shared = pd.DataFrame({"ds": days[:8]})
    own = pd.DataFrame({"ds": days[8:], "channel": "store"})
    cal = validate(pd.concat([shared, own], ignore_index=True), CALENDAR)
    end = pd.Timestamp("2024-01-10")
    assert first_uncovered_day(cal, days[0], end, ["store"]) is None
    assert first_uncovered_day(cal, days[0], end, ["store", "app"]) == (days[8], "app")
    with pytest.raises(DataContractError) as err:
        check_covers(cal, days[5], end, ["app"], "cal.csv")
    message = str(err.value)
    assert "channel 'app'" in message and "first missing day is 2024-01-09" in message
    assert "extend the calendar to 2024-01-10" in message and "\n" not in message


def test_the_validate_command_reads_a_calendar_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "calendar.csv"
    path.write_text("ds,channel,event\n2024-01-01,,NewYear\n2024-01-02,app,\n")
    assert main(["validate", "--table", "calendar", str(path)]) == 0
    assert "a valid calendar table, 2 rows" in capsys.readouterr().out


@pytest.mark.slow
def test_m5_calendar_gives_each_store_its_states_snap_days(shared_data: Path) -> None:
    sales, _ = load_m5(shared_data / "m5_tiny")
    stores = sorted(sales["channel"].unique())
    cal = load_m5_calendar(shared_data / "m5_tiny", stores)
    assert set(cal["channel"]) == set(stores)
    raw = pd.read_csv(shared_data / "m5_tiny" / "calendar.csv", parse_dates=["date"])
    ca = cal[cal["channel"] == stores[0]].set_index("ds")["snap"]
    state = stores[0].split("_")[0]
    expected = raw.set_index("date")[f"snap_{state}"].astype(float)
    assert ca.reindex(expected.index).equals(expected.rename("snap").rename_axis("ds"))
    # the sales' own SNAP flags agree with the calendar's
    joined = sales.merge(
        cal[["ds", "channel", "snap"]], on=["ds", "channel"], suffixes=("", "_cal")
    )
    assert len(joined) == len(sales) and (joined["snap"] == joined["snap_cal"]).all()
    assert isinstance(cal["event_name_1"].dtype, pd.CategoricalDtype)
