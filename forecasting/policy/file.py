"""The policy as a TOML file: what ``--policy FILE`` reads and what a model stores.

Any `PolicyConfig` field at the top level, the network as a ``[network]`` table of
channel = stocking nodes::

    service_level = 0.97
    showroom_channels = ["store"]

    [network]
    store = 400
    app = 3

Fields the file leaves out keep their value in the base policy (the defaults, or the
registered model's policy for ``simulate``); a ``[network]`` table replaces the whole
network. Unknown keys, wrong types and values out of range are one-line errors naming the
key. `policy_to_toml` writes every field back in this form (stored with each predictor).
"""

from __future__ import annotations

import difflib
import tomllib
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from forecasting.errors import ForecastingError
from forecasting.policy.config import PolicyConfig

NETWORK = "network"


def read_policy_file(path: str | Path, base: PolicyConfig | None = None) -> PolicyConfig:
    """The policy of the TOML file at ``path`` over ``base`` (default `PolicyConfig()`)."""
    src = Path(path)
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ForecastingError(f"{src}: cannot read the policy file ({exc})") from None
    return policy_from_toml(text, base, source=str(src))


def policy_from_toml(
    text: str, base: PolicyConfig | None = None, source: str = "<policy>"
) -> PolicyConfig:
    """`read_policy_file` for the file's text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ForecastingError(f"{source}: not valid TOML ({exc})") from None
    base = base or PolicyConfig()
    hints = typing.get_type_hints(PolicyConfig)
    known = [f.name for f in fields(PolicyConfig) if f.name != "nodes_per_channel"]
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key == NETWORK:
            changes["nodes_per_channel"] = _network(value, source)
        elif key == "nodes_per_channel":
            raise ForecastingError(
                f"{source}: key 'nodes_per_channel': write the network as a [network] table "
                "of channel = stocking nodes"
            )
        elif key in known:
            changes[key] = _typed(key, value, hints[key], source)
        else:
            near = difflib.get_close_matches(key, [*known, NETWORK], n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ForecastingError(
                f"{source}: unknown key '{key}'{hint}; the keys are the fields of "
                "PolicyConfig (docs/predictor.md) and a [network] table"
            )
    try:
        return replace(base, **changes)
    except ValueError as exc:
        raise ForecastingError(f"{source}: {exc}") from None


def _network(value: Any, source: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict) or not value:
        raise ForecastingError(
            f"{source}: [network] must be a table of channel = stocking nodes, e.g. store = 50"
        )
    out = []
    for channel, nodes in value.items():
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
            raise ForecastingError(
                f"{source}: key 'network.{channel}' = {nodes!r}: give the channel's stocking "
                "nodes as a whole number >= 1"
            )
        out.append((str(channel), nodes))
    return tuple(out)


def _typed(key: str, value: Any, hint: Any, source: str) -> Any:
    """``value`` as the field's type, or a one-line error naming the key."""

    def wrong(expected: str) -> ForecastingError:
        return ForecastingError(f"{source}: key '{key}' = {value!r}: expected {expected}")

    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("a whole number")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise wrong('text, e.g. "EUR"')
        return value
    if typing.get_origin(hint) is tuple:  # tuple[str, ...]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong('a list of channel names, e.g. ["store"]')
        return tuple(value)
    raise wrong(f"a {hint}")  # pragma: no cover - every field type is handled above


def policy_to_toml(config: PolicyConfig) -> str:
    """Every field of ``config`` as a policy file (`read_policy_file` reads it back)."""
    lines = ["# the stocking policy (forecasting; see docs/predictor.md)"]
    for f in fields(config):
        if f.name == "nodes_per_channel":
            continue
        lines.append(f"{f.name} = {_toml_value(getattr(config, f.name))}")
    lines += ["", f"[{NETWORK}]  # stocking nodes per channel"]
    lines += [f"{_toml_key(c)} = {n}" for c, n in config.nodes_per_channel]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_string(v) for v in value) + "]"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "inf"
    return str(value)


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else _toml_string(key)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
