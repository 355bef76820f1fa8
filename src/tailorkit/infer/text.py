"""Incremental detokenisation for streaming: one text piece per generated token id.

Decoding token by token breaks multi-byte characters and byte-level BPE spaces, so each step decodes the
whole answer so far and emits what is new; an incomplete UTF-8 sequence (decoded as U+FFFD) is held back
until the next token completes it, and trailing whitespace until the next word (the final text is
stripped). The concatenated pieces equal the batch answer's text. Both engines stream through it.
"""
from __future__ import annotations


class IncrementalText:
    """Turns a growing list of token ids into text pieces: each `add` returns the new text since the
    last piece ('' while a multi-byte character is incomplete or only whitespace came); `finish` returns the rest of the final,
    stripped text, so the pieces always concatenate to `decode(ids).strip()`."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = ""

    def add(self, token_id: int) -> str:
        self.ids.append(token_id)
        # trailing whitespace waits for the next word (the final text is stripped), and an incomplete
        # UTF-8 sequence waits for the token that completes it
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True).strip()
        if text.endswith("\ufffd") or not text.startswith(self.sent) or len(text) <= len(self.sent):
            return ""
        piece, self.sent = text[len(self.sent):], text
        return piece

    def finish(self, text: str | None = None) -> str:
        final = self.tokenizer.decode(self.ids, skip_special_tokens=True).strip() if text is None else text
        return final[len(self.sent):] if final.startswith(self.sent) else ""
