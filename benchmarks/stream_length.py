"""``expected_items=stream``: a store spec that asks for the length of the cell's stream instead of a number.

JPEG's automatic quality (decision 0046) and the recollection store's code design (Riemer et al.'s eq. 4/5) take
``expected_items``, the number of items the stream will offer. A spec may give it as a count
(``jpeg:quality=auto,expected_items=5000``) or as ``stream``; whoever builds the store from a stream (the runner,
``benchmarks.held_codes``) replaces ``stream`` with the stream's training items (:func:`with_stream_length`) before
the build. The text stays in the cell's key, so a cell says it was told, but not the number: two streams of
different lengths run the same text.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, TypeVar

from memstore.checks import check_fields, check_int

__all__ = ["STREAM_LENGTH", "check_expected_items", "stream_length_given", "with_stream_length"]

STREAM_LENGTH = "stream"


class TakesExpectedItems(Protocol):
    expected_items: int | str | None


Spec = TypeVar("Spec")


def check_expected_items(spec: TakesExpectedItems) -> None:
    """``spec.expected_items`` is None, a positive int or ``stream``; ValueError (InvalidInputError for a number
    out of range) otherwise."""
    value = spec.expected_items
    if isinstance(value, str) and value != STREAM_LENGTH:
        raise ValueError(f"{type(spec).__name__}.expected_items is a positive int or {STREAM_LENGTH!r} (the length "
                         f"of the cell's stream), got {value!r}")
    if value != STREAM_LENGTH:
        check_fields(spec, check_int, "expected_items", optional=True, low=1)


def stream_length_given(expected_items: int | str) -> int:
    """The count a store is built with; ValueError for ``stream`` not yet replaced by :func:`with_stream_length`."""
    if expected_items == STREAM_LENGTH:
        raise ValueError("expected_items=stream is the runner's to fill in (with_stream_length) before a build")
    return int(expected_items)


def with_stream_length(spec: Spec, stream_items: int) -> Spec:
    """``spec`` with ``expected_items=stream`` replaced by ``stream_items``, the training items of the cell's stream;
    any other spec as it is."""
    if getattr(spec, "expected_items", None) != STREAM_LENGTH:
        return spec
    return replace(spec, expected_items=stream_items)  # type: ignore[type-var]  (a dataclass spec with the field)
