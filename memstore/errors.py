"""Every failure a user of memstore can meet, typed.

All derive from :class:`MemstoreError`; input errors also derive from ``ValueError`` and lookup errors from
``KeyError``/``TypeError`` so that generic handlers keep working. A store that raises any of these has not
changed its state.
"""

from __future__ import annotations

__all__ = [
    "MemstoreError",
    "InvalidInputError",
    "ShapeError",
    "DTypeError",
    "RangeError",
    "NonFiniteError",
    "OffGridError",
    "LabelError",
    "BudgetTooSmallError",
    "NotEditable",
    "UnknownKeyError",
    "MissingContextError",
    "MissingCapabilityError",
    "StoreFormatError",
    "CorruptStoreError",
    "IncompatibleStoreError",
]


class MemstoreError(Exception):
    """Base class of every memstore error."""


class InvalidInputError(MemstoreError, ValueError):
    """An argument a store cannot accept; the message says what was expected."""


class ShapeError(InvalidInputError):
    """A tensor of the wrong shape."""


class DTypeError(InvalidInputError):
    """A tensor of the wrong dtype."""


class RangeError(InvalidInputError):
    """Inputs outside [0, 1]."""


class NonFiniteError(InvalidInputError):
    """NaN or infinite inputs."""


class OffGridError(InvalidInputError):
    """Inputs a lossless codec cannot represent: values that are not multiples of 1/255."""


class LabelError(InvalidInputError):
    """A class label or task id outside its range."""


class BudgetTooSmallError(MemstoreError, ValueError):
    """The budget cannot hold a single item (or the models a store must charge)."""


class NotEditable(MemstoreError, TypeError):
    """``edit`` on a store that keeps no items (generative or recall stores)."""


class UnknownKeyError(MemstoreError, KeyError):
    """``edit`` keys that name no stored item."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class MissingContextError(InvalidInputError):
    """``sample`` on a model-based store without the context (model, batch) it needs."""


class MissingCapabilityError(InvalidInputError):
    """A store handed to a learner that needs a capability the store does not have (:mod:`memstore.capabilities`)."""


class StoreFormatError(MemstoreError):
    """A saved store that cannot be opened."""


class CorruptStoreError(StoreFormatError):
    """A saved store whose bytes fail their checksums or whose layout is broken."""


class IncompatibleStoreError(StoreFormatError):
    """A saved store written by a newer format version, or of a store type this version does not know."""
