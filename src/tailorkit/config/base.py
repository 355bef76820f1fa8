"""Shared base for config sections: unknown keys are errors that name the nearest valid key."""
from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. `extra="forbid"` turns a typo into an error instead of a silent default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def nearest(name: str, candidates: list[str]) -> str | None:
    """The closest valid key to a misspelt one, or None when nothing is close."""
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
    return found[0] if found else None
