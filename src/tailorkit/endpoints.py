"""What every OpenAI-compatible client here (teacher, embeddings, answers) must not leak.

The openai client fills in, from the environment, whatever it is not given: OPENAI_API_KEY as the
bearer key, OPENAI_ORG_ID and OPENAI_PROJECT_ID as headers. Those belong to the user's OpenAI
account and go to api.openai.com only; for any other host the clients pass a key explicitly and
drop the two headers (`openai.Omit`, the client's documented way to remove a default header).
"""
from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

OPENAI_API_URL = "https://api.openai.com/v1"


def is_openai(url: str | None) -> bool:
    """Whether `url` is OpenAI's own API."""
    return bool(url) and (urlparse(str(url)).hostname or "").lower() == "api.openai.com"


def ambient_openai_key(url: str | None) -> str | None:
    """OPENAI_API_KEY from the environment when `url` is OpenAI's own API; None for every other host."""
    return os.environ.get("OPENAI_API_KEY") or None if is_openai(url) else None


def client_headers(url: str | None) -> dict[str, Any]:
    """default_headers for an openai client talking to `url`: the account headers removed unless OpenAI's."""
    if is_openai(url):
        return {}
    import openai

    return {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
