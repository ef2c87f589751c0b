"""Workspace YAML files read with their line numbers, so every problem names file and line.

A form or process file that does not parse, or parses into something its model refuses,
disables that one item: its ``ConfigError`` says ``forms/bad.yaml, line 7: ...`` and the rest
of the workspace starts. ``YamlFile.line_of`` finds the line of a value by the path pydantic
reports (``("steps", 2, "sheet")``), walking the composed YAML node tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from memory.errors import ConfigError


@dataclass(frozen=True)
class YamlFile:
    """One parsed file: its data and its node tree (for line numbers)."""

    path: Path
    data: Any
    node: yaml.Node | None

    @property
    def name(self) -> str:
        """How problems name the file: its folder and name (``processes/claim.yaml``)."""
        return f"{self.path.parent.name}/{self.path.name}"

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The 1-based line of the value at ``loc`` (or of the deepest part of it that exists)."""
        node, line = self.node, None
        for part in loc:
            if node is None:
                break
            line = node.start_mark.line + 1
            node = _child(node, part)
        if node is not None:
            line = node.start_mark.line + 1
        return line

    def where(self, loc: Sequence[str | int] = ()) -> str:
        line = self.line_of(loc) if loc else None
        return f"{self.name}, line {line}" if line else self.name

    def invalid(self, exc: ValidationError) -> ConfigError:
        """A ``ConfigError`` naming the file and the line of the first refused value."""
        first = exc.errors()[0]
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(x) for x in error["loc"]) or "the file"
            parts.append(f"{where}: {error['msg']}")
        return ConfigError(f"{self.where(first['loc'])}: invalid: {'; '.join(parts)}")


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == str(part):
                return value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def read_yaml(path: Path) -> YamlFile:
    """Parse ``path``; ConfigError naming the file and line when it cannot be read or parsed."""
    name = f"{path.parent.name}/{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
        return YamlFile(path, yaml.safe_load(text), yaml.compose(text))
    except OSError as exc:
        raise ConfigError(f"{name} cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name} is not UTF-8 text: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, line {mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
