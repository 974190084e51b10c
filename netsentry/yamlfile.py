"""YAML loading that remembers where every key and value came from.

Rule and feed files are edited by hand, so every error message must point at a
place: ``rules.yaml:14:5``. PyYAML's composer keeps start marks on every node;
this module turns the node tree into plain dicts, lists and scalars whose
containers also carry those positions (1-based line and column).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file, 1-based, printed as ``path:line:col``."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class MarkedDict(dict[str, Any]):
    """A mapping that knows where it starts and where each key and value is."""

    pos: Position
    key_pos: dict[str, Position]
    value_pos: dict[str, Position]


class MarkedList(list[Any]):
    """A sequence that knows where it starts and where each item is."""

    pos: Position
    item_pos: list[Position]


class YamlError(Exception):
    """A file that is not valid YAML (or not readable); the message names the place."""


def _pos(path: str, node: yaml.Node) -> Position:
    mark = node.start_mark
    return Position(path, mark.line + 1, mark.column + 1)


def _convert(path: str, node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = MarkedDict()
        out.pos = _pos(path, node)
        out.key_pos = {}
        out.value_pos = {}
        loader.flatten_mapping(node)  # resolve YAML merge keys (<<)
        for key_node, value_node in node.value:
            # A scalar key is kept as written: resolved, YAML 1.1 turns `on:`, `yes:` or
            # `off:` into booleans and the user would read "unknown key 'True'".
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                key = str(_convert(path, key_node, loader))
            if key in out:
                raise YamlError(f"{_pos(path, key_node)}: duplicate key '{key}'")
            out[key] = _convert(path, value_node, loader)
            out.key_pos[key] = _pos(path, key_node)
            out.value_pos[key] = _pos(path, value_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = MarkedList()
        seq.pos = _pos(path, node)
        seq.item_pos = []
        for item in node.value:
            seq.append(_convert(path, item, loader))
            seq.item_pos.append(_pos(path, item))
        return seq
    return loader.construct_object(node, deep=True)  # a scalar: str, int, bool, ...


# libyaml's parser (PyYAML's C binding) keeps the same start marks and is about 10x faster
# than the pure-Python one on the packaged rules.yaml (0.01 s vs 0.1 s of every start-up).
# Errors are re-parsed with the pure-Python loader, whose messages the docs and tests show.
_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def load_yaml_text(text: str, path: str) -> Any:
    """Parse YAML text; containers come back as MarkedDict / MarkedList."""
    if _FAST_LOADER is not None:
        fast = _FAST_LOADER(text)
        try:
            node = fast.get_single_node()
            return None if node is None else _convert(path, node, fast)
        except yaml.YAMLError:
            pass  # reported below, with the pure-Python parser's message and place
        finally:
            fast.dispose()
    return _load_pure(text, path)


def _load_pure(text: str, path: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _convert(path, node, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        message = exc.problem or exc.context
        if exc.context and exc.problem and exc.problem.startswith("but "):
            # PyYAML splits some messages in two ("expected a single document in the
            # stream" / "but found another document"): the second half alone reads broken.
            message = f"{exc.context}, {exc.problem}"
        raise YamlError(f"{where}: invalid YAML: {message}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file (see :func:`load_yaml_text`)."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise YamlError(f"{name}: no such file") from None
    except OSError as exc:
        raise YamlError(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Name the place (line:col) like every other error, not only the byte offset.
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlError(
            f"{name}:{line}:{col}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None
    return load_yaml_text(text, name)


def position_of(
    container: Any, key: str | int | None = None, *, value: bool = False
) -> Position | None:
    """Where ``container[key]`` (its key, or its value) or the container itself is."""
    if isinstance(container, MarkedDict):
        if key is None:
            return container.pos
        table = container.value_pos if value else container.key_pos
        return table.get(str(key), container.pos)
    if isinstance(container, MarkedList):
        if isinstance(key, int) and 0 <= key < len(container.item_pos):
            return container.item_pos[key]
        return container.pos
    return None


class ProblemList:
    """Collects ``path:line:col: <noun> 'name': message`` lines, to report all at once.

    Rule files and feed files are validated the same way (every problem listed, like a
    compiler); ``noun`` names what the file holds ("rule", "feed").
    """

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self.items: list[str] = []

    def add(self, pos: Position | None, name: str | None, message: str) -> None:
        """Record one problem, at ``pos`` when known, about the entry ``name`` when known."""
        where = f"{pos}: " if pos is not None else ""
        who = f"{self.noun} '{name}': " if name else ""
        self.items.append(f"{where}{who}{message}")


def suggest(word: str, vocabulary: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest word of ``vocabulary``, or ''."""
    close = difflib.get_close_matches(word, list(vocabulary), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
