"""The `advise:` section: the bounded pilot of four routes (base, base + retrieval, tuned, tuned + retrieval)."""
from __future__ import annotations

from pydantic import Field

from .base import Section


class AdviseConfig(Section):
    """`tailor advise`: which route (fine-tune, knowledge base, both) suits this project, measured."""

    minutes: float = Field(15.0, gt=0, description="time budget for the whole pilot (training takes what the "
                                                   "routes' generation leaves)")
    max_rows: int = Field(24, ge=2, description="held-out test rows every route answers")
    demos: int = Field(3, ge=0, le=16, description="retrieval routes: nearest training rows shown as demonstrations")
    docs: str | None = Field(None, description="documents folder for the retrieval routes' knowledge-base passages, "
                                               "relative to tailor.yaml; unset = demonstrations only")
    passages: int = Field(3, ge=1, description="retrieval routes: knowledge-base passages per request (with docs)")
    min_steps: int = Field(10, ge=1, description="fewest training steps worth piloting; a budget that cannot fit "
                                                 "them is an error")
    max_steps: int = Field(200, ge=1, description="most training steps of the pilot's short LoRA")
    train_share: float = Field(0.5, gt=0, lt=1, description="share of the budget that training may use at most")
