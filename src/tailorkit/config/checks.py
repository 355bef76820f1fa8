"""Task checks (`compare.checks`): typed, one class per kind, discriminated by `type`.

A check is a yes/no question about one answer that the task needs ("one line", "valid JSON",
"no 'Sure!' preamble"). Patterns and schemas are validated here, at load time, so a broken check is
a one-line config error naming its field instead of a crash halfway through a compare.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import TaggedSection


class _Check(TaggedSection):
    name: str | None = Field(None, description="label in tables and reports; unset = generated from the settings")


def _compile(pattern: str, ignore_case: bool) -> str:
    try:
        re.compile(pattern, re.I if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r} ({exc}); fix the pattern "
                         "(in YAML, single-quote it so backslashes survive)") from None
    return pattern


class RegexCheck(_Check):
    """The answer must contain a match of `pattern` (re.search)."""

    type: Literal["regex"]
    pattern: str = Field(..., description="Python regular expression searched anywhere in the answer")
    ignore_case: bool = Field(False, description="match case-insensitively")

    @model_validator(mode="after")
    def _valid(self):
        _compile(self.pattern, self.ignore_case)
        return self


class NotRegexCheck(RegexCheck):
    """The answer must not contain any match of `pattern`."""

    type: Literal["not_regex"]  # type: ignore[assignment]


class StartsWithCheck(_Check):
    """The answer (leading whitespace ignored) must start with one of `prefixes`."""

    type: Literal["starts_with"]
    prefixes: list[str] = Field(..., min_length=1, description="allowed openings")
    ignore_case: bool = Field(True, description="compare case-insensitively")


class NotStartsWithCheck(StartsWithCheck):
    """The answer must not start with any of `prefixes` (e.g. "Sure", "Here is")."""

    type: Literal["not_starts_with"]  # type: ignore[assignment]


class LengthCheck(_Check):
    """The answer's length must lie within [min, max] words or tokens (of the base model's tokenizer)."""

    type: Literal["length"]
    min: int | None = Field(None, ge=0, description="fewest allowed (unset = no lower bound)")
    max: int | None = Field(None, ge=0, description="most allowed (unset = no upper bound)")
    unit: Literal["words", "tokens"] = Field("words", description="words (whitespace-separated) or tokens")

    @model_validator(mode="after")
    def _range(self):
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class LinesCheck(_Check):
    """The number of non-empty lines must lie within [min, max]."""

    type: Literal["lines"]
    min: int | None = Field(None, ge=0, description="fewest non-empty lines")
    max: int | None = Field(None, ge=1, description="most non-empty lines (1 = a single line)")


class LineWidthCheck(_Check):
    """No line may be wider than `max` characters."""

    type: Literal["max_line_width"]
    max: int = Field(..., ge=1, description="widest allowed line in characters")


class JSONCheck(_Check):
    """The answer must parse as JSON (surrounding whitespace allowed, nothing else)."""

    type: Literal["json"]


class JSONSchemaCheck(_Check):
    """The answer must parse as JSON and conform to a JSON Schema (inline `schema` or `schema_file`)."""

    type: Literal["json_schema"]
    json_schema: dict[str, Any] | None = Field(None, alias="schema", description="the JSON Schema, inline")
    schema_file: str | None = Field(None, description="a JSON file holding the schema, relative to tailor.yaml")

    model_config = {**TaggedSection.model_config, "populate_by_name": True}

    @field_validator("json_schema")
    @classmethod
    def _schema(cls, value):
        if value is not None:
            check_schema(value)
        return value

    @model_validator(mode="after")
    def _one(self):
        if (self.json_schema is None) == (self.schema_file is None):
            raise ValueError("give exactly one of schema (inline) or schema_file")
        return self


def check_schema(schema: Any) -> None:
    """Raise ValueError (one line) when `schema` is not a valid JSON Schema."""
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise ValueError(f"invalid JSON Schema at {where}: {exc.message}") from None


CheckConfig = Annotated[
    Union[RegexCheck, NotRegexCheck, StartsWithCheck, NotStartsWithCheck, LengthCheck, LinesCheck,
          LineWidthCheck, JSONCheck, JSONSchemaCheck],
    Field(discriminator="type"),
]
