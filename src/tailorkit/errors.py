"""Typed errors. Library code raises these; only the CLI prints them.

Every message says what was wrong, where (file:line:field when known) and how to fix it.
The CLI turns any TailorError into one line on stderr and exit code 2.
"""
from __future__ import annotations


class TailorError(Exception):
    """Base class: a problem the user can fix. `where` is a file, file:line or file:line:field."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.what.rstrip("."))
        if self.fix:
            parts.append(f". Fix: {self.fix}")
        text = "".join(parts)
        if not text.endswith((".", "?", "!")):
            text += "."
        return " ".join(text.split())  # always one line


class ConfigError(TailorError):
    """tailor.yaml or a CLI override is invalid."""


class DataError(TailorError):
    """An input dataset cannot be read or mapped to Examples."""


class ModelError(TailorError):
    """A model reference cannot be resolved or loaded."""


class TrainError(TailorError):
    """Training cannot start or continue (e.g. nothing to resume, zero trainable tokens)."""


class TeacherError(TailorError):
    """A teacher LLM cannot be reached or configured."""


class RowsFailedError(TailorError):
    """A bulk run finished, but some rows failed for good; the output of the other rows is written.

    Exit code 3 (not 2), so scripts can tell "finished with failed rows" from "bad input"."""

    exit_code = 3


class KBError(TailorError):
    """The knowledge base cannot be read, written or queried."""


class MissingExtraError(TailorError):
    """An optional dependency is not installed."""


def require(module: str, install: str):
    """Import an optional heavy dependency or raise one clear error with the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise MissingExtraError(
            f"the optional dependency '{module}' is not installed ({exc})",
            fix=f"run: pip install {install}",
        ) from exc
