"""The `kb:` section (owned by the kb package; extend here)."""
from __future__ import annotations

from pydantic import Field

from .base import Section


class KBConfig(Section):
    """Knowledge base: embedded Qdrant Edge in a project folder, or a Qdrant server when url is set."""

    path: str = Field(".tailor/kb", description="folder of the embedded store, relative to tailor.yaml")
    url: str | None = Field(None, description="Qdrant server URL; unset = embedded store")
    collection: str = Field("tailor", description="collection name")
    embedder: str = Field("all-minilm-l6-v2", description="bundled name, sentence-transformers path, or openai:<model>")
