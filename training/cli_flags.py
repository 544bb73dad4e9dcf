"""Every field of a typed config becomes a kebab-case command-line flag: the one way jobs build
their flags.

``add_config_flags(parser, MBSLConfig)`` adds ``--patch-lengths 8,16,32``,
``--mask-ratios 0.2,0.4,0.6``, ``--temperature 0.1`` ... with the dataclass defaults and the
field descriptions of the class docstring as help; ``config_from_flags(MBSLConfig, args,
base=MBSLConfig.paper())`` builds the config back. Tuples are comma-separated, booleans are
``--flag`` / ``--no-flag``; fields of nested or dict type are not exposed.

An explicit flag always wins over a preset, whatever its value: flags the user did not give
are absent from the parsed namespace (``argparse.SUPPRESS``), so ``--preset paper --d-model 64``
gives d_model 64 even though 64 is also the small preset's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _tuple_parser(item_type: type) -> Any:
    def parse(text: str) -> tuple:
        return tuple(item_type(part) for part in text.split(",") if part.strip())

    return parse


def _field_parser(annotation: Any) -> Any | None:
    origin = typing.get_origin(annotation)
    if annotation in (int, float, str):
        return annotation
    if origin is tuple:
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if args and all(a in (int, float, str) for a in args):
            return _tuple_parser(args[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _field_parser(args[0])
    return None


def field_descriptions(cls: type) -> dict[str, str]:
    """``name: text`` entries of the ``Attributes:`` section of a Google-style docstring."""
    doc = inspect.getdoc(cls) or ""
    if "Attributes:" not in doc:
        return {}
    section = doc.split("Attributes:", 1)[1]
    descriptions: dict[str, str] = {}
    current: list[str] | None = None
    for line in section.splitlines():
        match = re.match(r"^ {4}([a-z_][a-z0-9_, ]*):\s*(.*)$", line)
        if match:
            current = [match.group(2)]
            for name in match.group(1).split(","):
                descriptions[name.strip()] = current  # type: ignore[assignment]
        elif line.startswith("        ") and current is not None:
            current.append(line.strip())
        elif line.strip() and not line.startswith(" "):
            break
    return {name: " ".join(parts) for name, parts in descriptions.items()}  # type: ignore[arg-type]


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def add_config_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    exclude: tuple[str, ...] = (),
    title: str | None = None,
) -> None:
    """Add one flag per simple field of dataclass ``cls`` (help: docstring text and default)."""
    hints = typing.get_type_hints(cls)
    descriptions = field_descriptions(cls)
    group = parser.add_argument_group(title or cls.__name__)
    for field in dataclasses.fields(cls):
        if field.name in exclude or field.name.startswith("fault_injection"):
            continue
        annotation = hints[field.name]
        default = _default_of(field)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f"{descriptions.get(field.name, '')} (default: {shown})".strip()
        help_text = help_text.replace("%", "%%")
        if annotation is bool:
            group.add_argument(
                flag_name(field.name),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        parse = _field_parser(annotation)
        if parse is None:
            continue
        group.add_argument(
            flag_name(field.name),
            dest=field.name,
            type=parse,
            default=argparse.SUPPRESS,
            choices=field.metadata.get("choices"),
            help=help_text,
        )


def explicit_flags(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` the user gave on the command line, with their values."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in vars(args).items() if k in names}


def config_from_flags(
    cls: type[T], args: argparse.Namespace, base: T | None = None, **overrides: Any
) -> T:
    """``cls`` built from, in rising precedence: its defaults, ``base`` (e.g. a preset), the
    flags the user gave, and ``overrides`` (what the job itself fixes)."""
    values: dict[str, Any] = {}
    if base is not None:
        values = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}  # type: ignore[arg-type]
    values.update(explicit_flags(cls, args))
    values.update(overrides)
    return cls(**values)
