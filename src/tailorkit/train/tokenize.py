"""Training's view of the label-mask code, which lives in `tailorkit.template` (shared with evaluate)."""
from __future__ import annotations

from ..template import IGNORE, encode_example, encode_examples, row_where, trained_token_count

__all__ = ["IGNORE", "encode_example", "encode_examples", "row_where", "trained_token_count"]
