"""tailor.yaml: load, validate, override from the CLI, write the resolved copy into a run.

A project's tailor.yaml only overrides defaults. Unknown keys are errors naming the nearest valid key;
a key written twice is an error (yamlfile.py), and errors in the file name its line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from ..errors import ConfigError
from .advise import AdviseConfig
from .base import Section, nearest
from .data import ColumnMap, DataConfig
from .generation import CompareConfig, ExportConfig, GenerationConfig
from .kb import KBConfig
from .project import ModelConfig, ServeConfig
from .synth import SynthConfig, TeacherConfig
from .train import TrainConfig
from .yamlfile import DuplicateKeyError, key_line, load_yaml

CONFIG_NAME = "tailor.yaml"


class TailorConfig(Section):
    """The whole project configuration. `root` is the folder of tailor.yaml (not written to YAML)."""

    name: str = Field("tailor-project", description="project name")
    runs_dir: str = Field("runs", description="where run directories go, relative to tailor.yaml")
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    synth: SynthConfig = Field(default_factory=SynthConfig)
    kb: KBConfig = Field(default_factory=KBConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    advise: AdviseConfig = Field(default_factory=AdviseConfig)
    project_dir: str | None = Field(
        None, description="folder that relative paths resolve against, relative to this file; unset = this "
                          "file's folder. The resolved copy in runs/<name>/config.yaml sets it, so "
                          "`tailor compare -c runs/<name>/config.yaml` works from anywhere")
    root: Path = Field(default_factory=Path.cwd, exclude=True, description="folder of tailor.yaml")

    def path(self, relative: str | Path) -> Path:
        """Resolve a path from the config relative to the project root."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def run_dir(self) -> Path:
        return self.path(self.runs_dir) / self.train.run_name

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude={"root"}), sort_keys=False)


def _section_fields(model: type[Section], dotted: list[str]) -> list[str]:
    """Valid keys at the location of an error, for 'did you mean'."""
    cls: Any = model
    for part in dotted:
        field = cls.model_fields.get(part)
        if field is None:
            break
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, Section):
            cls = ann
        else:
            break
    return list(cls.model_fields)


def _explain(exc: ValidationError, source: str, text: str | None = None) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(x) for x in err["loc"]]
    dotted = ".".join(loc)
    line = key_line(text, err["loc"]) if text else None
    source = f"{source}:{line}" if line else source
    if err["type"] == "extra_forbidden":
        valid = [k for k in _section_fields(TailorConfig, loc[:-1]) if k != "root"]
        guess = nearest(loc[-1], valid)
        hint = f"did you mean '{'.'.join(loc[:-1] + [guess])}'?" if guess else f"valid keys here: {', '.join(valid)}"
        return ConfigError(f"unknown key '{dotted}'", where=source, fix=hint)
    msg = err["msg"].removeprefix("Value error, ")
    return ConfigError(f"'{dotted}' is invalid: {msg}", where=source, fix=f"correct the value of {dotted}")


def _require_mapping(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping of keys to values", where=source,
                          fix="start from `tailor init` or examples/midjourney/tailor.yaml")


def build_config(data: dict[str, Any], *, root: Path, source: str = CONFIG_NAME,
                 text: str | None = None) -> TailorConfig:
    """Validate a plain dict (as read from YAML) into a TailorConfig; `text`, the YAML it was read from,
    lets an error name the line of the offending key."""
    _require_mapping(data, source)
    project_dir = data.get("project_dir")
    if isinstance(project_dir, str) and project_dir:
        try:
            root = (root / Path(project_dir).expanduser()).resolve()
        except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, an unknown ~user, a symlink loop
            raise ConfigError(f"project_dir {project_dir!r} is not a usable folder path ({exc})", where=source,
                              fix="set project_dir to a folder, relative to tailor.yaml, or remove it") from None
    try:
        cfg = TailorConfig.model_validate({**data, "root": root})
    except ValidationError as exc:
        raise _explain(exc, source, text) from None
    return cfg


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TailorConfig:
    """Load tailor.yaml (or defaults when path is None and ./tailor.yaml is absent) and apply overrides.

    `overrides` maps dotted keys ("train.learning_rate") to values, as the CLI flags give them.
    """
    text = None
    if path is None:
        path = Path.cwd() / CONFIG_NAME
        data: dict[str, Any] = {}
        if path.exists():
            data, text = _read_yaml(path)
    else:
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist", fix="run `tailor init DIR` or pass --config PATH")
        data, text = _read_yaml(path)
    _require_mapping(data, str(path))  # before overrides are set into it
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        text = None  # a flag may be what is invalid: its line is not in the file
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"cannot set '{key}': '{part}' is not a section", where=str(path))
        node[leaf] = value
    return build_config(data, root=path.resolve().parent, source=str(path), text=text)


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed file and its text."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("the file is not UTF-8 text", where=f"{path}", fix="save it as UTF-8") from None
    try:
        data = load_yaml(text)
    except DuplicateKeyError as exc:
        raise ConfigError(f"duplicate key '{exc.key}' (also on line {exc.first_line}); YAML would keep only the "
                          "last one", where=f"{path}:{exc.line}", fix="keep one of the two") from None
    except yaml.YAMLError as exc:
        # context_mark is where the broken construct began (an unclosed bracket's line), else the problem spot
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"invalid YAML ({getattr(exc, 'problem', exc)})", where=where,
                          fix="check indentation and quoting on that line") from None
    return data or {}, text


def write_resolved(cfg: TailorConfig, run_dir: Path) -> Path:
    """Write the fully resolved config into the run directory (atomically). Its project_dir points
    back at the project (relative, so moving the whole project keeps it valid)."""
    import os

    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / "config.yaml"
    tmp = out.with_suffix(".yaml.tmp")
    home = Path(os.path.relpath(cfg.root.resolve(), run_dir.resolve())).as_posix()
    tmp.write_text(cfg.model_copy(update={"project_dir": home}).to_yaml(), encoding="utf-8")
    tmp.replace(out)
    return out


__all__ = [
    "CONFIG_NAME", "ColumnMap", "CompareConfig", "ConfigError", "DataConfig", "ExportConfig",
    "GenerationConfig", "KBConfig", "ModelConfig", "ServeConfig", "SynthConfig", "TailorConfig", "TeacherConfig",
    "TrainConfig", "build_config", "load_config", "write_resolved",
]
