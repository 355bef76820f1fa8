"""Reading tailor.yaml: a YAML SafeLoader that rejects duplicate keys, and the line of a dotted key.

PyYAML keeps the last of two equal keys in a mapping without a word, so `epochs: 3` followed later by
`epochs: 1` silently trains one epoch. UniqueKeyLoader (a SafeLoader subclass, so nothing outside this
loader changes) raises instead, naming both lines. key_line maps a validation error's location
(("train", "epochs")) back to the line it was written on, so config errors can say file:line.
"""
from __future__ import annotations

from typing import Any, Sequence

import yaml


class DuplicateKeyError(yaml.YAMLError):
    """A mapping holds the same key twice; `line` is the second occurrence (1-based)."""

    def __init__(self, key: str, line: int, first_line: int) -> None:
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(f"duplicate key '{key}' (first on line {first_line})")


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that raises DuplicateKeyError when a mapping repeats a key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so below
                break
            if first is not None:
                raise DuplicateKeyError(str(key), key_node.start_mark.line + 1, first)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML text with UniqueKeyLoader."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def key_line(text: str, loc: Sequence[Any]) -> int | None:
    """The 1-based line where the key at `loc` (a path of mapping keys and list indices) is written."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:  # only a full match gives a line: a key set elsewhere (a CLI flag) has none here
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if match is None:
                return None
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return None
    return line
