"""What the knowledge base's two OpenAI-compatible clients (embeddings, answers) share: the API key
from a named environment variable, and endpoint failures turned into one-line KBErrors."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import KBError


def key_from_env(env: str | None, field: str) -> str | None:
    """The key in $env; None when no variable is configured. A configured but unset one is an error."""
    key = os.environ.get(env) if env else None
    if env and not key:
        raise KBError(f"the environment variable {env} ({field}) is not set",
                      fix=f"export {env}=<your key> or unset {field}")
    return key


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
