"""Loading user-written YAML into pydantic models with errors that name file, line and field."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sentinel.errors import ConfigError

#: Rubric and judge files are small; a bigger one is a mistake or an attack.
MAX_YAML_BYTES = 256 * 1024
#: Values a document may hold once its aliases are spelled out. Anchors that share a block of settings stay far
#: below this; nine aliases of nine aliases (a "billion laughs" file of a few hundred bytes) expand to 387 million,
#: which every later walk over the data (validation, serialisation) would spell out again.
MAX_YAML_VALUES = 100_000

ModelT = TypeVar("ModelT", bound=BaseModel)


def _format_loc(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the YAML node at ``loc``, or of the deepest ancestor that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Refuses a mapping that names a key twice, and a document whose aliases expand past MAX_YAML_VALUES.

    An alias is the node its anchor names, shared: each node is checked once, and its expanded size is counted
    from its children's, so a file of nested aliases is refused in as many steps as it has nodes."""
    expanded: dict[int, int] = {}
    open_nodes: set[int] = set()

    def visit(node: yaml.Node) -> int:
        if id(node) in expanded:
            return expanded[id(node)]
        if id(node) in open_nodes:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: this value contains itself through a YAML alias")
        open_nodes.add(id(node))
        size = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise ConfigError(
                            f"{path}:{key.start_mark.line + 1}: key '{key.value}' appears twice "
                            f"(first on line {seen[key.value]})"
                        )
                    seen[key.value] = key.start_mark.line + 1
                size += visit(key) + visit(value)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(visit(item) for item in node.value)
        if size > MAX_YAML_VALUES:
            raise ConfigError(
                f"{path}:{node.start_mark.line + 1}: this value expands to more than {MAX_YAML_VALUES} values "
                "through YAML aliases; write it out, or share less"
            )
        open_nodes.discard(id(node))
        expanded[id(node)] = size
        return size

    visit(root)


class YamlDocument:
    """A parsed YAML file that remembers where each value came from."""

    def __init__(self, path: Path, data: Any, root: yaml.Node | None) -> None:
        self.path = path
        self.data = data
        self.root = root

    def error(self, loc: Sequence[int | str], message: str) -> ConfigError:
        line = _line_of(self.root, loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{where}: {_format_loc(loc)}: {message}", field=_format_loc(loc))

    def validate(self, model: type[ModelT]) -> ModelT:
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            problems = [
                self.error(
                    [p for p in err["loc"] if not str(p).startswith("function-")], _in_plain_words(model, err)
                ).message
                for err in exc.errors()
            ]
            raise ConfigError("\n".join(problems), field=_format_loc(exc.errors()[0]["loc"])) from exc


def _in_plain_words(model: type[BaseModel], err: Any) -> str:
    """Pydantic's message, or for a key the model does not have (pydantic: "Extra inputs are not permitted") the key
    called unknown, with the nearest known one when it looks like a typo and the keys that are known there."""
    if err["type"] != "extra_forbidden":
        return str(err["msg"]).removeprefix("Value error, ")
    key = str(err["loc"][-1])
    known = _fields_at(model, err["loc"][:-1])
    if not known:
        return f"unknown key '{key}'"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}'{hint} (known here: {', '.join(known)})"


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the model found at ``loc`` inside ``model`` (through lists, dicts and optionals), or []
    where the path leads to no single model."""
    current: Any = model
    for step in loc:
        current = _model_in(current)
        if current is None:
            return []
        if isinstance(step, str) and step in current.model_fields:
            current = current.model_fields[step].annotation
        elif not isinstance(step, int):
            return []
        # An int steps into the list the previous field held: _model_in unwraps it on the next turn.
    found = _model_in(current)
    return list(found.model_fields) if found is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = [m for m in (_model_in(arg) for arg in typing.get_args(annotation)) if m is not None]
    return models[0] if len(models) == 1 else None


#: libyaml's parser when PyYAML was built with it: several times faster than the pure-Python one, and every file
#: is read at start-up (`sentinel eval` reads every rubric and judge before it judges anything).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, from one parse."""
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        return root, None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> YamlDocument:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: file is {size} bytes; YAML files may be at most {MAX_YAML_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        root, data = _parse(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if root is not None:
        _check_nodes(root, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of fields at the top level, got {type(data).__name__}")
    return YamlDocument(path, data, root)
