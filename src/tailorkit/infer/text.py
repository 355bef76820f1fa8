"""Incremental detokenisation for streaming: one text piece per generated token id.

Decoding token by token breaks multi-byte characters and byte-level BPE spaces, so each step decodes the
whole answer so far and emits what is new; an incomplete UTF-8 sequence (decoded as U+FFFD) is held back
until the next token completes it. The concatenated pieces equal the batch answer's text.
"""
from __future__ import annotations


class TextDeltas:
    """Feed generated (non-terminator) token ids one at a time; `push` returns the new text (maybe "")."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = ""

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd") or not text.startswith(self.sent) or len(text) <= len(self.sent):
            return ""
        piece, self.sent = text[len(self.sent):], text
        return piece

    def rest(self, final_text: str) -> str:
        """What the final (stripped) answer adds to the pieces sent so far."""
        return final_text[len(self.sent):] if final_text.startswith(self.sent) else ""
