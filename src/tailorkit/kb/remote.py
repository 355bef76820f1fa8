"""What the knowledge base's two OpenAI-compatible clients (embeddings, answers) share: the API key
from a named environment variable, and endpoint failures turned into one-line KBErrors.

A key goes only to the endpoint it was configured for (see ../endpoints.py): the clients here always
pass one explicitly: the named variable's value, else OPENAI_API_KEY only when the endpoint is
OpenAI's own, else a dummy.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..endpoints import ambient_openai_key, client_headers
from ..errors import KBError


def key_from_env(env: str | None, field: str) -> str | None:
    """The key in $env; None when no variable is configured. A configured but unset one is an error."""
    key = os.environ.get(env) if env else None
    if env and not key:
        raise KBError(f"the environment variable {env} ({field}) is not set",
                      fix=f"export {env}=<your key> or unset {field}")
    return key


NO_KEY = "none"  # sent where no key is configured: local servers accept any key, and the client needs one


def endpoint_key(env: str | None, field: str, url: str | None) -> str:
    """The key to send to `url`: $env when configured; OPENAI_API_KEY for api.openai.com only; else a dummy."""
    return key_from_env(env, field) or ambient_openai_key(url) or NO_KEY


def openai_client(url: str | None, key: str, **options):
    """An openai.OpenAI client for `url` with exactly `key` and no account headers from the environment."""
    import openai

    return openai.OpenAI(base_url=url, api_key=key, default_headers=client_headers(url), **options)


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
