"""The train form, generated from the config schema (pydantic `model_fields`), and its validation.

Each field shows its description as help text and the value the project resolves to (tailor.yaml
over the defaults). The browser sends back only the fields the user changed, so a value the trainer
resolves itself while unset (the learning rate by model size) stays unset unless it was edited.
Validation is `load_config` with the changes as dotted overrides: the same one-line ConfigError the
CLI gives for the same bad value.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TailorConfig, load_config
from ..config.base import Section

# Shown first, in this order; the remaining fields follow under "more settings".
MAIN_FIELDS = {"train": ["run_name", "method", "epochs", "max_steps", "learning_rate", "batch_size", "lora_r",
                         "log_every_steps"]}
FORM_SECTIONS = ("train",)
LABELS = {"lora_r": "LoRA rank (r)", "lora_alpha": "LoRA alpha", "lora_dropout": "LoRA dropout",
          "log_every_steps": "log the loss every N steps", "max_steps": "max steps", "grad_accum": "gradient accumulation",
          "max_grad_norm": "gradient clipping (max norm)", "early_stopping_patience": "early stopping patience"}
GLOSS = {"method": "LoRA trains small add-on matrices (fast, small files); full trains every weight. ",
         "lora_r": "Size of the add-on matrices: higher learns more but can overfit. "}


@dataclass
class FormField:
    name: str  # dotted: train.lora_r
    label: str
    kind: str  # select | checkbox | number | text
    value: str
    default: str
    help: str
    choices: list[str]
    optional: bool
    main: bool


def _kind(annotation: Any) -> tuple[str, list[str], bool]:
    """(input kind, choices, optional) for a field's type annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        return "select", [str(c) for c in typing.get_args(annotation)], False
    args = typing.get_args(annotation)
    optional = type(None) in args
    inner = [a for a in args if a is not type(None)] or [annotation]
    first = inner[0]
    if typing.get_origin(first) is typing.Literal:
        return "select", [str(c) for c in typing.get_args(first)], optional
    if first is bool:
        return "checkbox", [], optional
    if first in (int, float) and len(inner) == 1:
        return "number", [], optional
    return "text", [], optional


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def form_fields(cfg: TailorConfig, sections: tuple[str, ...] = FORM_SECTIONS) -> list[FormField]:
    """One FormField per config field of the given sections, main fields first."""
    out: list[FormField] = []
    for section in sections:
        model: type[Section] = type(getattr(cfg, section))
        current = getattr(cfg, section)
        main = MAIN_FIELDS.get(section, [])
        names = main + [n for n in model.model_fields if n not in main]
        for name in names:
            f = model.model_fields[name]
            kind, choices, optional = _kind(f.annotation)
            default = f.get_default(call_default_factory=True)
            out.append(FormField(f"{section}.{name}", LABELS.get(name, name.replace("_", " ")), kind,
                                 _show(getattr(current, name)), _show(default), GLOSS.get(name, "") + (f.description or ""),
                                 choices, optional, name in main))
    return out


def parse_value(field: FormField, raw: Any) -> Any:
    """The browser's string -> the value for the override (blank = unset for optional fields)."""
    if raw is None:
        return None
    if field.kind == "checkbox":
        return raw in (True, "true", "on", "1")
    text = str(raw).strip()
    if text == "" and field.optional:
        return None
    if field.kind == "text" and "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def validate_changes(config_path: Path, changes: dict[str, Any], cfg: TailorConfig) -> dict[str, Any]:
    """Overrides for the changed fields, validated; raises ConfigError (one line) on a bad value."""
    fields = {f.name: f for f in form_fields(cfg)}
    overrides: dict[str, Any] = {}
    for name, raw in changes.items():
        if name not in fields:
            from ..errors import ConfigError

            raise ConfigError(f"unknown key '{name}'", fix="use a field of the form")
        overrides[name] = parse_value(fields[name], raw)
    config_with(config_path, overrides)
    return overrides


def config_with(config_path: Path, overrides: dict[str, Any]) -> TailorConfig:
    """load_config, except that an override of None means 'unset' (load_config skips None values), so a
    field cleared in the form falls back to its default even when tailor.yaml sets it."""
    import yaml

    from ..config import build_config

    if not any(v is None for v in overrides.values()):
        return load_config(config_path, overrides)
    data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return build_config(data, root=config_path.resolve().parent, source=str(config_path))
