"""What the knowledge base's two OpenAI-compatible clients (embeddings, answers) share: the API key
from a named environment variable, and endpoint failures turned into one-line KBErrors.

A key goes only to the endpoint it was configured for. The openai client reads OPENAI_API_KEY from the
environment whenever it is given no key, so the clients here always pass one explicitly: the named
variable's value, else OPENAI_API_KEY only when the endpoint is OpenAI's own, else a dummy.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from ..errors import KBError


def key_from_env(env: str | None, field: str) -> str | None:
    """The key in $env; None when no variable is configured. A configured but unset one is an error."""
    key = os.environ.get(env) if env else None
    if env and not key:
        raise KBError(f"the environment variable {env} ({field}) is not set",
                      fix=f"export {env}=<your key> or unset {field}")
    return key


OPENAI_API_URL = "https://api.openai.com/v1"
NO_KEY = "none"  # sent where no key is configured: local servers accept any key, and the client needs one


def is_openai(url: str | None) -> bool:
    """Whether `url` is OpenAI's own API (the only host OPENAI_API_KEY may go to unasked)."""
    return bool(url) and (urlparse(str(url)).hostname or "").lower() == "api.openai.com"


def endpoint_key(env: str | None, field: str, url: str | None) -> str:
    """The key to send to `url`: $env when configured; OPENAI_API_KEY for api.openai.com only; else a dummy."""
    key = key_from_env(env, field)
    if key:
        return key
    ambient = os.environ.get("OPENAI_API_KEY")
    return ambient if ambient and is_openai(url) else NO_KEY


@contextmanager
def endpoint_errors(what: str, url: object, url_field: str, model_field: str) -> Iterator[None]:
    """Connection failures and HTTP errors of one call to the `what` endpoint -> KBError with the fix."""
    import openai

    try:
        yield
    except openai.APIConnectionError as exc:
        raise KBError(f"cannot reach the {what} endpoint {url} ({exc})", where=f"tailor.yaml:{url_field}",
                      fix=f"start the server or correct {url_field}") from None
    except openai.APIStatusError as exc:
        raise KBError(f"the {what} endpoint answered {exc.status_code}: {exc.message}",
                      where=f"tailor.yaml:{model_field}", fix="check the model name and the API key") from None
