"""`tailor studio`: a local web app over the same Python API as the CLI (runs, data, train, compare,
chat, knowledge base). Serves on 127.0.0.1 by default; works offline (no CDN, no Node build).

`create_app(project)` builds the FastAPI app; `serve_studio(project, host, port)` serves it.
"""
from __future__ import annotations


def create_app(project):
    from .app import create_app as _create

    return _create(project)


def serve_studio(project=".", host: str = "127.0.0.1", port: int = 8765) -> None:
    from .app import serve_studio as _serve

    _serve(project, host, port)


__all__ = ["create_app", "serve_studio"]
