"""YAML read with line numbers, and validators whose errors name the file, line and key.

SafeLoader only: a jobs file never creates Python objects.
"""

from __future__ import annotations

from typing import Any

import yaml

from crawler.core.errors import ConfigError


class Map(dict[str, Any]):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[str, int]


class Seq(list[Any]):
    """A YAML sequence that remembers the line of each item (1-based)."""

    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry line numbers for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    result = Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(f"key {key!r} is not a string", line=key_node.start_mark.line + 1)
        if key in result:
            raise ConfigError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> Seq:
    result = Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def empty_map(parent: Map, key: str) -> Map:
    """Stands in for an absent section, at the line of its parent."""
    m = Map()
    m.line = parent.key_lines.get(key, parent.line)
    m.key_lines = {}
    return m


class Checker:
    """Validation helpers bound to one file, so each error carries the file name."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self, text: str) -> Any:
        """Parse YAML; syntax errors name the line (and where an unclosed bracket opened)."""
        try:
            return yaml.load(text, Loader=_LineLoader)
        except ConfigError as exc:
            raise self.fail(exc.detail, exc.line) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            context_mark = getattr(exc, "context_mark", None)
            if context and context_mark is not None:
                # An unclosed bracket is only noticed where the file ends; say where it opened.
                problem += f" ({context} that starts on line {context_mark.line + 1})"
            line = mark.line + 1 if mark else None
            raise self.fail(f"YAML syntax error: {problem}", line) from None

    def fail(self, message: str, line: int | None) -> ConfigError:
        return ConfigError(message, path=self.path, line=line)

    def mapping(self, value: Any, where: str, line: int | None, allowed: set[str]) -> Map:
        if not isinstance(value, Map):
            raise self.fail(f"{where} must be a mapping", line)
        for key in value:
            if key not in allowed:
                raise self.fail(
                    f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})",
                    value.key_lines[key],
                )
        return value

    def section(self, top: Map, key: str, allowed: set[str]) -> Map:
        """An optional top-level section (empty when absent)."""
        return self.mapping(top.get(key, empty_map(top, key)), key, top.key_lines.get(key), allowed)

    def string(self, m: Map, key: str, where: str) -> str | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key} must be a non-empty string", m.key_lines[key])
        return value.strip()

    def choice(self, m: Map, key: str, where: str, options: tuple[str, ...]) -> str | None:
        value = self.string(m, key, where)
        if value is not None and value not in options:
            raise self.fail(
                f"{where}.{key} {value!r} is not one of {', '.join(options)}", m.key_lines[key]
            )
        return value

    def number(self, m: Map, key: str, where: str, *, minimum: float, integer: bool) -> Any:
        value = m.get(key)
        if value is None:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        # `not value >= minimum` also rejects YAML's .nan, which compares false to anything.
        if not ok or isinstance(value, bool) or not value >= minimum:
            kind = "a whole number" if integer else "a number"
            raise self.fail(f"{where}.{key} must be {kind} >= {minimum:g}", m.key_lines[key])
        return value
