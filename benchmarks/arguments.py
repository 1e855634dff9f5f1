"""What the benchmark scripts' command lines share: argparse types that refuse a bad value before any work, and
:func:`refusing_bad_input`, which turns a value memstore refuses, or data not where it was pointed, into one line
and status 2 instead of a traceback.

Each type raises ``argparse.ArgumentTypeError``, so argparse prints the script's usage, the option and the reason,
and exits with status 2 (as it does for text where a number belongs)::

    parser.add_argument("--steps", type=positive_int, default=3000)
    parser.add_argument("--sizes", type=pairs, default="500x10,5000x10")
    parser.add_argument("--out", type=output_file, default=None)
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["choice_list", "device", "non_negative_int", "output_file", "pairs", "positive_int", "positive_ints",
           "positive_real", "refusing_bad_input"]

Main = TypeVar("Main", bound=Callable[..., Any])


def _int(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An int >= 1 (a count of steps, rounds, items, tasks, ...)."""
    return _int(text, 1)


def non_negative_int(text: str) -> int:
    """An int >= 0 (0 turns the thing off)."""
    return _int(text, 0)


def positive_real(text: str) -> float:
    """A finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def positive_ints(text: str) -> tuple[int, ...]:
    """A comma list of ints >= 1, at least one: ``500,5000,50000``."""
    items = text.split(",")
    if not text.strip() or not all(item.strip() for item in items):
        raise argparse.ArgumentTypeError(f"expected a comma list of ints >= 1, got {text!r}")
    return tuple(positive_int(item) for item in items)


def pairs(text: str) -> tuple[tuple[int, int], ...]:
    """A comma list of ``AxB`` pairs of ints >= 1, at least one: ``48x10,6x20`` (code shapes, sizes x batches)."""
    parsed = []
    for item in text.split(","):
        parts = item.strip().split("x")
        if len(parts) != 2 or not all(part.strip() for part in parts):
            raise argparse.ArgumentTypeError(f"expected a comma list of AxB pairs such as 48x10, got {text!r}")
        parsed.append((positive_int(parts[0]), positive_int(parts[1])))
    return tuple(parsed)


def choice_list(choices: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """A type: a comma list of names, each one of ``choices``, at least one."""
    known = tuple(choices)

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(","))
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(known)}; got {text!r}")
        return names

    return parse


def device(text: str) -> str:
    """A torch device this machine has (``cpu``, ``cuda``, ``cuda:1``): a missing driver is a usage error."""
    from memstore.errors import MemstoreError
    from memstore.nn.dvae import usable_device

    try:
        usable_device(text)
    except MemstoreError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def output_file(text: str) -> Path:
    """A file to write: a name, not a folder, with no file in the way of its folder (checked before any work, so
    that a result is not lost at the end)."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a file to write, got {'a folder ' if text else ''}{text!r}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"cannot write {text}: {parent} is a file, not a folder")
            break
    return path


def refusing_bad_input(main: Main) -> Main:
    """``main`` with a value memstore refuses (:class:`~memstore.errors.InvalidInputError`: a quality of 0;
    :class:`~memstore.errors.BudgetTooSmallError`: a budget too small for one item) or a data set not found
    (:class:`~benchmarks.datasets.DataNotFoundError`) reported as one line on stderr and ``SystemExit(2)``, as
    argparse reports a usage error. Any other error keeps its traceback: it is not the caller's to fix."""

    @functools.wraps(main)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        # imported here, not above: scale's spawned workers import this module and only what they use
        from memstore.errors import BudgetTooSmallError, InvalidInputError

        from .datasets import DataNotFoundError

        try:
            return main(*args, **kwargs)
        except (InvalidInputError, BudgetTooSmallError, DataNotFoundError) as exc:
            program = f"python -m {main.__module__}" if main.__module__ != "__main__" else Path(sys.argv[0]).name
            print(f"{program}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return guarded  # type: ignore[return-value]
