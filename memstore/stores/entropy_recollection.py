"""EntropyCodedRecollectionStore: Riemer et al.'s recollections with each item's codes entropy-coded (constriction).

The dVAE and Algorithm 1 are RecollectionStore's (:class:`~memstore.stores.recollection.OnlineDVAE`); the codes live on
the variable-size engine, each item coded alone under a model fitted to the stored codes: Huffman codes over groups
of latents by default (``coder="prefix"``, decision 0039), or a range-coded string under a categorical per latent
(``coder="range"``)::

    write(x, y): Algorithm 1 ─▶ argmax ENC(x) ─▶ code under the model ─▶ admit (evict until it fits)
                 every time as many items were written as the store held at its last refit (at least 64), and at
                 end_task: refit the model to the stored codes, re-code every item under it, evict per the policy if
                 the total grew past the budget
    sample(n):   decode n items' strings with the model ─▶ DEC(codes) with the current decoder

Bits (docs/design.md, bits: "their actual coded length plus what decoding needs"): the model's counts (16 bits each)
once while the store holds an item, each item's coded length (its bits under the prefix coder; 8 × its bytes and a
length field under the range coder), labels. Before the first refit the model is uniform, so an item costs about its
fixed width (range coding: rounded up to 32-bit words): the store overtakes RecollectionStore once its model has been
fitted, where the codes carry less information than their fixed width (docs/results.md measures where that happens).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..blocks import ByteBlocks
from ..budget import Budget
from ..codecs.byte_column import ByteRows
from ..codecs.dvae import DVAECodec
from ..codecs.entropy import EntropyCodedDVAE, coder_from_config
from ..errors import InvalidInputError
from ..nn.dvae import DiscreteVAE, usable_device
from ..policies import Policy
from ..store import TaskContext
from .latent_design import default_latents, ranges_for
from .recollection import OnlineDVAE, Stabilisation
from .variable import VariableItemStore

__all__ = ["EntropyCodedRecollectionStore"]

#: the model is first fitted once this many items were written
FIRST_REFIT = 64

#: the symbol coders a store can use, by the name its ``coder`` argument takes
CODERS = {"range": {"id": "categorical-range"}, "prefix": {"id": "categorical-prefix", "max_alphabet": 16}}


class EntropyCodedRecollectionStore(OnlineDVAE, VariableItemStore):
    """dVAE codes of ``latents`` (c) variables of ``classes`` (l) values, entropy-coded per item; arguments as
    :class:`~memstore.stores.recollection.RecollectionStore` (the codes are byte strings, in Zarr chunks under
    ``path`` when it is given; the default (c, l) is the fixed-width design, which entropy coding then holds more
    of). ``coder``: ``"prefix"`` (the default: Huffman codes over groups of latents, bit-exact and self-delimiting,
    :mod:`memstore.codecs.prefix`) or ``"range"`` (per-item range coding, whole 32-bit words and a length field; a
    range-coded store on disk also saves and opens a block at a time, decision 0032)."""

    store_type = "recollection-entropy"
    runtime_options: ClassVar[frozenset[str]] = frozenset({"path", "device", "dvae"})
    codec: EntropyCodedDVAE

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        latents: int | None = None,
        classes: int | None = None,
        expected_items: int | None = None,
        tau: float = 1.0,
        code_side: int | None = None,
        ranges: bool | None = None,
        activation: str = "elu",
        stabilisation: Stabilisation | None = None,
        dvae: DiscreteVAE | dict[str, Tensor] | None = None,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        policy: Policy | None = None,
        num_tasks: int | None = None,
        coder: str = "prefix",
        path: Any = None,
    ) -> None:
        if not isinstance(coder, str) or coder not in CODERS:
            raise InvalidInputError(f"coder must be one of {sorted(CODERS)}, got {coder!r}")
        self.coder_name = coder
        ranges = ranges_for(ranges, item_shape)
        self._init_settings(latents, classes, tau, code_side, ranges, activation, stabilisation,
                            lambda side: default_latents(budget, item_shape, num_classes, expected_items=expected_items,
                                                         num_tasks=num_tasks, code_side=side, ranges=ranges),
                            item_shape, dvae is not None)
        target = usable_device(device)
        super().__init__(budget, item_shape, num_classes, seed=seed, policy=policy, num_tasks=num_tasks, path=path)
        self._init_dvae(dvae, target)
        self._written_since_refit = 0
        self._held_at_refit = 0

    def make_codec(self) -> EntropyCodedDVAE:
        dvae = self._dvae_codec()
        return EntropyCodedDVAE(dvae, coder_from_config(CODERS[self.coder_name], dvae.symbols, dvae.config.classes))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "coder": self.coder_name}

    @classmethod
    def decode_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        kwargs = super().decode_config(config)
        kwargs.setdefault("coder", "range")  # stores saved before the prefix coder were range-coded
        return kwargs

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "coder": self.coder_name}

    @property
    def learned_codec(self) -> DVAECodec:
        return self.codec.dvae

    def _codes(self, slots: np.ndarray) -> np.ndarray:
        return self.codec.coder.decode(self._scans.get(slots.tolist()))

    # -- the entropy model -------------------------------------------------------------------------------------------

    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        admitted = super().write(x, y, task=task)
        self._written_since_refit += int(x.shape[0])
        if self._written_since_refit >= max(self._held_at_refit, FIRST_REFIT):  # refits double while the store grows
            self.refit()
        return admitted

    @property
    def consolidates_at_end_task(self) -> bool:
        """``end_task`` refits the code model to the stored codes and re-codes them."""
        return True

    def end_task(self, context: TaskContext) -> None:
        self.check_task_context(context)
        self.refit()

    def refit(self) -> None:
        """Fit the model to the stored codes, re-code every item under it, then evict per the policy while the
        budget is exceeded (re-coding under a fitted model rarely grows the total, but word rounding can). Two
        passes over the items, a chunk at a time (the counts, then the re-coding): a store on disk larger than
        memory refits without holding its items."""
        self._written_since_refit = 0
        if not self._size:
            self._held_at_refit = 0
            return
        old = self.codec.coder
        coder = old.fit_counts(sum(old.count(old.decode(items)) for items in self._scans.chunks()))
        self._scans.recode(lambda items: coder.encode(old.decode(items)))
        self.codec.coder = coder
        while self._used() > self._room():  # the policy picks a victim; the newest item is the one it spares
            newest = self._size - 1
            self._remove(self.policy.evict(self._occupancy(self._size), newest, self.generator), newest)
        self._held_at_refit = self._size

    # -- persistence -------------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "written_since_refit": self._written_since_refit,
                "held_at_refit": self._held_at_refit}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        written = int(state["written_since_refit"])
        # stores saved before this field refitted against the items they held: that is the count to go on from
        held = int(state["held_at_refit"]) if "held_at_refit" in state else None
        super().load_state_dict(state)
        self._written_since_refit = written
        self._held_at_refit = len(self) if held is None else held

    def _check_payload(self, state: dict[str, Any], size: int) -> Callable[[], None]:
        """The payload begins with the model's counts; every item must decode and re-encode to its bytes under it.
        A range-coded payload saved from disk (:class:`~memstore.blocks.ByteBlocks`) is checked in a first pass
        over its blocks and copied in a second, so a mismatch changes nothing and neither pass holds it whole."""
        coder = coder_from_config(CODERS[self.coder_name], self.learned_codec.symbols, self.classes)
        payload = state["payload"]
        blocks = isinstance(payload, ByteBlocks) and not coder.self_delimiting
        if size:
            head = (payload.peek(0, len(coder.shared)) if blocks else
                    np.asarray(payload, dtype=np.uint8).reshape(-1)[:len(coder.shared)].tobytes())
            try:
                coder = coder.with_shared(head)
            except ValueError as exc:
                raise InvalidInputError(f"state 'payload' holds no valid entropy model: {exc}") from exc
        if blocks:
            skip = len(coder.shared) if size else 0
            lengths = self._checked_lengths(payload.nbytes, payload.peek(0, skip), state, size, coder.shared)
            for items in ByteRows.rows_of_blocks(payload, skip, lengths):
                _verified(coder, items)
            load = (lambda: self._scans.load_blocks(payload, skip, lengths))
        else:
            items = self._read_items(state, size, coder.shared, coder.split if coder.self_delimiting else None)
            if not coder.self_delimiting:  # split has already decoded and re-encoded every item, exactly
                _verified(coder, items)
            load = (lambda: self._scans.replace_all(items))

        def install() -> None:
            load()
            self.codec.coder = coder

        return install


def _verified(coder: Any, items: list[bytes]) -> None:
    """Refuse ``items`` unless each decodes and re-encodes to its own bytes under ``coder``'s model."""
    try:
        coder.decode(items, verify=True)
    except ValueError as exc:
        raise InvalidInputError(f"state 'payload' does not match its entropy model: {exc}") from exc
