"""Frozen dataclass configurations to and from JSON: the one round trip every saved model
and every run uses (JSON lists come back as the tuples the dataclasses hold)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass instance as plain JSON-ready values (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_to_json(config: Any) -> str:
    return json.dumps(dataclasses.asdict(config), indent=2, default=str)


def config_from_dict(cls: type[T], raw: typing.Mapping[str, Any]) -> T:
    """``cls(**raw)`` with lists turned back into tuples and nested dataclasses rebuilt,
    as the field types say. An unknown key is a `ValueError` naming it."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; known: {sorted(names)}")
    values = {key: _coerce(hints[key], value) for key, value in raw.items()}
    return cls(**values)


def config_from_json(cls: type[T], text: str) -> T:
    return config_from_dict(cls, json.loads(text))


def _coerce(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            if arm is not type(None):
                return _coerce(arm, value)
    if dataclasses.is_dataclass(hint) and isinstance(value, typing.Mapping):
        return config_from_dict(hint, value)  # type: ignore[arg-type]
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        if args and len(args) == len(value):
            return tuple(_coerce(a, v) for a, v in zip(args, value, strict=True))
        return tuple(value)
    return value


def lgb_threads(n_jobs: int) -> int:
    """LightGBM's thread count for ``n_jobs``, capped by ``OMP_NUM_THREADS`` when set.

    LightGBM's explicit ``num_threads`` overrides OpenMP's environment, so an operator's cap
    would otherwise be ignored; and OpenMP threads spin while they wait, so more threads than
    free cores (two jobs on one machine, or test workers) makes a fit several times slower."""
    import os

    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    n = max(1, int(n_jobs))
    return min(n, max(1, int(cap))) if cap.isdigit() else n
