"""Specs with parameters: ``name:key=value,key=value`` names a registered spec with some fields replaced.

``lossless:codec=png,level=6`` is ``LosslessSpec(codec="png", level=6)``; ``recollection:latents=38,classes=2,steps=4``
is the recollection spec at (38, 2) with more Algorithm 1 steps. Values are read by the field's annotated type (int,
float, bool, str, or one of them or None). The text is the cell's store or learner name, so it is part of the cell's
key: a parameterised cell never reuses another's result.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["parameters_of", "resolve", "split_names"]

T = TypeVar("T")

_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _value(text: str, annotation: Any, field: str) -> Any:
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, type(int | None)) else ()
    kinds = [kind for kind in (options or (annotation,)) if kind is not type(None)]
    if type(None) in options and text.lower() == "none":
        return None
    for kind in kinds:
        if kind is bool:
            if text.lower() in _BOOLS:
                return _BOOLS[text.lower()]
            continue
        try:
            return kind(text)
        except (TypeError, ValueError):
            continue
    raise ValueError(f"cannot read {field}={text!r} as {' or '.join(getattr(k, '__name__', str(k)) for k in kinds)}")


def resolve(text: str, registry: Mapping[str, T], kind: str) -> T:
    """The spec ``text`` names: a registered name, optionally followed by ``:field=value,...``."""
    name, _, tail = text.partition(":")
    if name not in registry:
        from .renamed import new_text  # the retired names import the specs, which import this module

        renamed = new_text(text)
        if renamed is not None:
            raise ValueError(f"the {kind} {name!r} is now written {renamed!r} (decision 0033: one name per concept, "
                             "with parameters; `python -m benchmarks.rekey` re-keys cells recorded under old names)")
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(registry)}")
    spec = registry[name]
    if not tail:
        return spec
    if not dataclasses.is_dataclass(spec):
        raise ValueError(f"the {kind} {name!r} takes no parameters")
    fields = {f.name: f for f in dataclasses.fields(spec) if f.init}
    hints = typing.get_type_hints(type(spec))
    changes: dict[str, Any] = {}
    for item in tail.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise ValueError(f"{kind} {name!r}: cannot read {item!r}; parameters are {sorted(fields)} (key=value)")
        changes[key] = _value(value.strip(), hints[key], key)
    changed = dataclasses.replace(spec, **changes)  # type: ignore[type-var]
    if getattr(changed, "name", name) != getattr(spec, "name", name):
        raise ValueError(f"{kind} {name!r}: a parameter cannot make it another {kind} ({changed.name!r}): "
                         f"write {changed.name!r}")
    return changed


def parameters_of(spec: Any) -> str:
    """What ``name:key=value,...`` may set on ``spec``, with the values it has: ``per_task=false`` for ``raw``
    ('' for a spec without parameters)."""
    if not dataclasses.is_dataclass(spec):
        return ""

    def text(value: Any) -> str:
        return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    return ",".join(f"{f.name}={text(getattr(spec, f.name))}" for f in dataclasses.fields(spec) if f.init)


def split_names(text: str) -> tuple[str, ...]:
    """A comma list of specs, where a parameter list's commas stay with their spec: ``"raw,lossless:codec=png,
    level=6,jpeg"`` → ``("raw", "lossless:codec=png,level=6", "jpeg")``."""
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if names and "=" in part and ":" not in part and ":" in names[-1]:
            names[-1] += "," + part
        else:
            names.append(part)
    return tuple(names)
