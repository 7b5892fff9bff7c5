"""Small value checks shared by the rules; each raises the service's error for a bad value."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .protocol import (
    RequestError,
    above_max,
    below_min,
    invalid_type,
    invalid_value,
    missing_parameter,
    unknown_parameter,
)


def obj(value: Any, param: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, Mapping):
        raise invalid_type(param, "an object", value)
    return dict(value)


def known_fields(value: Mapping[str, Any], allowed: Collection[str], param: str) -> None:
    """Refuse fields the service does not know (the first one, in the order sent)."""
    for key in value:
        if key not in allowed:
            raise unknown_parameter(f"{param}.{key}")


def required(value: Mapping[str, Any], key: str, param: str) -> Any:
    """A field that must be present."""
    if key not in value or value[key] is None:
        raise missing_parameter(f"{param}.{key}")
    return value[key]


def boolean(value: Any, param: str) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


def string(value: Any, param: str, *, non_empty: bool = False) -> str:
    """A string; ``non_empty`` for the names the docs say "can't be empty"."""
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if non_empty and not value.strip():
        raise RequestError("invalid_value", f"Invalid '{param}': the value can't be empty.", param)
    return value


def choice(value: Any, allowed: Collection[str], param: str) -> str:
    """One of a fixed set of strings."""
    string(value, param)
    if value not in allowed:
        raise invalid_value(param, value, allowed)
    return str(value)


def decimal(value: Any, param: str, lo: float | None = None, hi: float | None = None) -> float:
    """A number within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(param, "a decimal", value)
    if lo is not None and value < lo:
        raise below_min(param, lo, value)
    if hi is not None and value > hi:
        raise above_max(param, hi, value)
    return float(value)


def integer(value: Any, param: str, lo: int | None = None, hi: int | None = None) -> int:
    """A whole number within [lo, hi] (2.0 is accepted as 2, as JSON does not tell them apart)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise invalid_type(param, "an integer", value)
    if lo is not None and value < lo:
        raise below_min(param, lo, value, decimal=False)
    if hi is not None and value > hi:
        raise above_max(param, hi, value, decimal=False)
    return int(value)


def string_list(value: Any, param: str) -> list[str]:
    """An array of strings."""
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    for i, entry in enumerate(value):
        string(entry, f"{param}[{i}]")
    return list(value)
