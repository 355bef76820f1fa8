"""Shared base for config sections: unknown keys are errors that name the nearest valid key, and a
boolean is never taken for a number.

pydantic's lax mode reads `epochs: true` as 1 and `learning_rate: false` as 0.0: a YAML slip that
trains with a silently wrong value. Full strict mode would also refuse what YAML and the CLI give
legitimately (a path as a string), so only booleans given to int/float fields are refused, here once
for every section.
"""
from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator


def _number_only(annotation: Any) -> bool:
    """True when the annotation admits int or float but not bool (Optional/Union/list members included)."""
    found: set[type] = set()

    def walk(a: Any) -> None:
        if a in (int, float, bool):
            found.add(a)
        origin = typing.get_origin(a)
        if origin is typing.Union or origin is types.UnionType:
            for arg in typing.get_args(a):
                walk(arg)

    walk(annotation)
    return bool(found & {int, float}) and bool not in found


class Section(BaseModel):
    """A config section. `extra="forbid"` turns a typo into an error instead of a silent default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name and _number_only(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
        return value


class TaggedSection(BaseModel):
    """A Section that is one member of a union told apart by a `type` field (pydantic refuses a
    before-validator on a discriminator field, so booleans given to numbers are refused for the
    whole model instead)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _no_bool_as_number(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key)
                if isinstance(value, bool) and field is not None and _number_only(field.annotation):
                    raise ValueError(f"'{key}' expects a number, got the boolean {str(value).lower()}")
        return data


def nearest(name: str, candidates: list[str]) -> str | None:
    """The closest valid key to a misspelt one, or None when nothing is close."""
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
    return found[0] if found else None
