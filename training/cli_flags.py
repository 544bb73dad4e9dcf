"""Every field of a typed config becomes a kebab-case command-line flag.

``add_config_flags(parser, MBSLConfig)`` adds ``--patch-lengths 8,16,32``,
``--mask-ratios 0.2,0.4,0.6``, ``--temperature 0.1`` ... with the dataclass defaults;
``config_from_flags(MBSLConfig, args)`` builds the config back. Tuples are comma-separated,
booleans are ``--flag`` / ``--no-flag``. Fields of nested or dict type are not exposed.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _field_parser(args[0])
    return None


def add_config_flags(
    parser: argparse.ArgumentParser, cls: type, exclude: tuple[str, ...] = ()
) -> None:
    """Add one flag per simple field of dataclass ``cls`` (defaults from the dataclass)."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for field in dataclasses.fields(cls):
        if field.name in exclude or field.name.startswith("fault_injection"):
            continue
        annotation = hints[field.name]
        default = (
            field.default
            if field.default is not dataclasses.MISSING
            else field.default_factory()  # type: ignore[misc]
            if field.default_factory is not dataclasses.MISSING
            else None
        )
        if annotation is bool:
            group.add_argument(
                _flag(field.name),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=default,
            )
            continue
        parse = _field_parser(annotation)
        if parse is None:
            continue
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(
            _flag(field.name),
            dest=field.name,
            type=parse,
            default=default,
            choices=field.metadata.get("choices"),
            help=f"default: {shown}",
        )


def config_from_flags(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Build ``cls`` from the parsed flags that match its fields, then apply ``overrides``."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return cls(**values)
