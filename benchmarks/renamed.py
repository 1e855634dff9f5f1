"""Spec names retired by decision 0033 (one registered name per concept), and the re-keying of cells recorded
under them.

Before 0033 a combination of parameters could have a name of its own (``raw-per-task``, ``er-gmed-split``,
``recollection-104x4``). Each is now its concept's name with parameters; :data:`RENAMED` gives the text that runs the
same spec. A cell's key holds its store and learner text, so cells recorded under an old name are re-keyed, their
results untouched::

    python -m benchmarks.rekey RESULTS_DIR/cells [MORE_DIRS ...] [--dry-run]

renames ``mnist-split-gmed-er-gmed-split-raw-500img-s0-<digest>.json`` to
``mnist-split-gmed-er-gmed:alpha=5,beta=0.01-raw-500img-s0-<new digest>.json`` and rewrites its ``config``; a run
given the new name then resumes from it.
"""

from __future__ import annotations

from .learner_specs import GMED_TABLE1, RANDOM_STRIDES, gmed_learner
from .specs import paper_shape

__all__ = ["RENAMED", "new_text"]


def _renamed() -> dict[str, str]:
    names = {"raw-per-task": "raw:per_task=true", "arm-distill": "arm:replay_size=0",
             "self-recall-unit-lag": "self-recall:unit_lag=true", "self-recall-unclamped": "self-recall:clamp=false"}
    for latents, classes in ((104, 4), (139, 8), (38, 2)):
        shape = paper_shape(latents, classes)
        names[f"recollection-{latents}x{classes}"] = shape
        names[f"recollection-{latents}x{classes}-per-task"] = shape + ",per_task=true"
        names[f"recollection-{latents}x{classes}-online-ae"] = shape + ",batch_size=0"
    for stream in GMED_TABLE1:
        names[f"er-gmed-{stream}"] = gmed_learner("er-gmed", stream)
        names[f"er-gmed-random-{stream}"] = gmed_learner("er-gmed", stream, random_edit=True)
        names[f"mir-gmed-{stream}"] = gmed_learner("mir-gmed", stream)
    beta = GMED_TABLE1["split"][1]
    for stride in RANDOM_STRIDES:
        names[f"er-gmed-random-stride{stride:g}-split"] = (
            f"er-gmed:alpha={stride:g},beta={beta:g},random_edit=true,fixed_stride=true")
    return names


#: retired name → the text that names the same spec now
RENAMED: dict[str, str] = _renamed()


def _parameters(tail: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in tail.split(",") if item)


def new_text(text: str) -> str | None:
    """The text naming ``text``'s spec now, its own parameters kept (they win over the renamed name's), or None
    when ``text`` uses no retired name: ``new_text("er-gmed-split:official_sign=true")`` →
    ``"er-gmed:alpha=5,beta=0.01,official_sign=true"``."""
    name, _, tail = text.partition(":")
    if name not in RENAMED:
        return None
    base, _, base_tail = RENAMED[name].partition(":")
    parameters = {**_parameters(base_tail), **_parameters(tail)}
    return base + ":" + ",".join(f"{key}={value}" for key, value in parameters.items())
