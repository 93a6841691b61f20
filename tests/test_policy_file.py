"""Policy files: what ``--policy`` reads, the example that ships, the errors it gives."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from forecasting.errors import ForecastingError
from forecasting.policy.config import PolicyConfig
from forecasting.policy.file import policy_from_toml, policy_to_toml, read_policy_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "policy.toml"


def test_the_example_file_sets_every_field_to_its_documented_default() -> None:
    raw = tomllib.loads(EXAMPLE.read_text())
    names = {f.name for f in fields(PolicyConfig)} - {"nodes_per_channel"}
    assert set(raw) == names | {"network"}
    assert read_policy_file(EXAMPLE) == PolicyConfig()


def test_a_policy_written_as_a_file_reads_back_the_same() -> None:
    policy = PolicyConfig(
        service_level=0.9,
        nodes_per_channel=(("offline", 400), ("online", 1), ("we chat", 2)),
        showroom_channels=("offline",),
        max_weeks_of_cover=float("inf"),
    )
    assert policy_from_toml(policy_to_toml(policy)) == policy


def test_fields_left_out_keep_the_base_and_a_network_replaces_the_whole_network() -> None:
    base = PolicyConfig(holding_rate=0.2)
    got = policy_from_toml("service_level = 0.9\n[network]\noffline = 400\n", base)
    assert (got.service_level, got.holding_rate) == (0.9, 0.2)
    assert got.network == {"offline": 400}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("servce_level = 0.9", "unknown key 'servce_level' (did you mean 'service_level'?)"),
        ('service_level = "high"', "key 'service_level' = 'high': expected a number"),
        ("no_sale_days = 5.5", "key 'no_sale_days' = 5.5: expected a whole number"),
        ("service_level = 1.2", "service_level = 1.2: must be in [0.5, 1)"),
        ("holding_rate = -0.1", "holding_rate = -0.1: must be >= 0"),
        ('showroom_channels = "store"', "key 'showroom_channels'"),
        ("[network]\nstore = 0", "key 'network.store' = 0"),
        ("[network]\nstore = 2.5", "key 'network.store' = 2.5"),
        ("network = 3", "[network] must be a table"),
        ("[costs]\nholding = 1", "unknown key 'costs'"),
        ("nodes_per_channel = []", "write the network as a [network] table"),
        ("service_level = ", "not valid TOML"),
    ],
)
def test_mistakes_are_one_line_errors_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(ForecastingError) as err:
        policy_from_toml(text, source="shop.toml")
    message = str(err.value)
    assert message.startswith("shop.toml: ") and named in message
    assert "\n" not in message
