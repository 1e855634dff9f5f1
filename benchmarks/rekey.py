"""Re-key cells recorded under spec names that decision 0033 retired (:mod:`benchmarks.renamed`), and, with
``--pin-ranges``, colour cells recorded before decision 0036 made channel ranges the recollection store's default.

    python -m benchmarks.rekey DIR [DIR ...] [--pin-ranges] [--dry-run]

Each ``DIR`` holds a runner's cell files (``OUT/cells``). A cell whose learner or store text uses a retired name is
rewritten under the new text: its ``config`` names the new text, its file the new key (the same digest rule as
:attr:`benchmarks.runner.Cell.key`); every other field, results and provenance included, is kept as recorded. A file
whose name does not match its config is refused before anything in that folder changes. ``--pin-ranges`` (only for
cells recorded before 2026-12-05) writes ``ranges=false`` into the text of a recollection store that ran on colour
items without naming ``ranges``: that is what it ran, and the default text now means ranges on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .renamed import new_text
from .runner import config_digest, write_json

__all__ = ["COLOUR_DATASETS", "pinned_ranges", "rekey", "renamed_cell"]

#: the datasets of colour items when decision 0036 made ranges the default there
COLOUR_DATASETS = frozenset({"colour", "colour-mnist"})


def pinned_ranges(store: str | None, dataset: str) -> str | None:
    """The text a recollection store recorded on colour items before decision 0036 ran as (``ranges=false``
    added), None when ``store`` needs no pin."""
    if store is None or dataset not in COLOUR_DATASETS or "ranges=" in store:
        return None
    name, _, params = store.partition(":")
    if name != "recollection":
        return None
    return f"{name}:{params},ranges=false" if params else f"{name}:ranges=false"


def renamed_cell(name: str, cell: dict, *, pin_ranges: bool = False) -> tuple[str, dict] | None:
    """(new file name, new cell) for a cell recorded under a retired name (or, with ``pin_ranges``, under a text
    :func:`pinned_ranges` pins), None for any other; ValueError when ``name`` is not the key of ``cell``'s config."""
    config = cell["config"]
    learner, store = config["learner"], config.get("store")
    middle = f"-{learner}-{store or 'nostore'}-"
    digest = config_digest(config)
    if not name.endswith(f"-s{config['seed']}-{digest}.json") or name.count(middle) != 1:
        raise ValueError(f"{name}: not the key of its config (expected '...{middle}...-s{config['seed']}-{digest}')")
    new_learner, new_store = new_text(learner), None if store is None else new_text(store)
    if pin_ranges:
        new_store = pinned_ranges(new_store or store, config["dataset"]) or new_store
    if new_learner is None and new_store is None:
        return None
    config = {**config, "learner": new_learner or learner, "store": new_store or store}
    head, _, tail = name.partition(middle)
    tail = tail[: -len(f"{digest}.json")] + f"{config_digest(config)}.json"
    return f"{head}-{config['learner']}-{config['store'] or 'nostore'}-{tail}", {**cell, "config": config}


def rekey(directory: str | Path, *, dry_run: bool = False, pin_ranges: bool = False) -> list[tuple[str, str]]:
    """Re-key the cells of ``directory`` recorded under retired names (and, with ``pin_ranges``, the colour
    recollection cells of before decision 0036); returns (old, new) file names. Every file is checked before any is
    renamed."""
    folder = Path(directory)
    changes = []
    for path in sorted(folder.glob("*.json")):
        renamed = renamed_cell(path.name, json.loads(path.read_text()), pin_ranges=pin_ranges)
        if renamed is not None:
            changes.append((path, *renamed))
    for path, name, cell in changes:
        if (folder / name).exists():
            raise FileExistsError(f"{path.name} would become {name}, which exists already")
    if not dry_run:
        for path, name, cell in changes:
            write_json(folder / name, cell)
            path.unlink()
    return [(path.name, name) for path, name, _ in changes]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rekey", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="folders of cell JSON files (a run's OUT/cells)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be renamed, change nothing")
    parser.add_argument("--pin-ranges", action="store_true",
                        help="add ranges=false to colour recollection cells recorded before 2026-12-05 (decision 0036)")
    args = parser.parse_args(argv)
    for directory in args.dirs:
        changes = rekey(directory, dry_run=args.dry_run, pin_ranges=args.pin_ranges)
        for old, new in changes:
            print(f"{directory}: {old} -> {new}")
        print(f"{directory}: {len(changes)} cell(s) {'would be ' if args.dry_run else ''}re-keyed")


if __name__ == "__main__":
    main()
