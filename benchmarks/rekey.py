"""Re-key cells recorded under spec names that decision 0033 retired (:mod:`benchmarks.renamed`), and, with
``--pin NAME``, recollection cells recorded before a decision changed what the store's default text means.

    python -m benchmarks.rekey DIR [DIR ...] [--pin ranges] [--pin activation] [--pin warmup] [--dry-run]

Each ``DIR`` holds a runner's cell files (``OUT/cells``). A cell whose learner or store text uses a retired name is
rewritten under the new text: its ``config`` names the new text, its file the new key (the same digest rule as
:attr:`benchmarks.runner.Cell.key`); every other field, results and provenance included, is kept as recorded. A file
whose name does not match its config is refused before anything in that folder changes. A pin (:data:`PINS`; only
for cells recorded before its decision) writes what a recollection store ran into a text that did not name it,
because the default text now means something else:

- ``ranges`` (decision 0036, cells before 2026-12-05): ``ranges=false`` on colour items;
- ``activation`` (decision 0037, also 2026-12-05, after 0036): ``activation=relu`` on every dataset;
- ``warmup`` (decision 0038, 2026-12-05, after 0037): ``warmup_steps=0`` on colour items;
- ``coder`` (decision 0039, 2026-12-05, after 0038): ``coder=range`` on entropy-coded recollections.

``--pin-ranges`` is ``--pin ranges``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from .renamed import new_text
from .runner import config_digest, write_json

__all__ = ["COLOUR_DATASETS", "PINS", "Pin", "pinned", "rekey", "renamed_cell"]

#: the datasets of colour items when decision 0036 made ranges the default there
COLOUR_DATASETS = frozenset({"colour", "colour-mnist"})


@dataclass(frozen=True)
class Pin:
    """``parameter=value`` written into a recollection text that does not name ``parameter``, on ``datasets`` (all
    when None) and where the text holds ``requires`` (always when None): what such a cell ran before a decision
    changed the default."""

    parameter: str
    value: str
    datasets: frozenset[str] | None = None
    requires: str | None = None

    def applies(self, store: str, dataset: str) -> bool:
        name, _, params = store.partition(":")
        parts = [part for part in params.split(",") if part]
        named = any(part.partition("=")[0] == self.parameter for part in parts)
        required = self.requires is None or self.requires in parts
        return (name == "recollection" and not named and required
                and (self.datasets is None or dataset in self.datasets))


PINS = {"ranges": Pin("ranges", "false", COLOUR_DATASETS), "activation": Pin("activation", "relu"),
        "warmup": Pin("warmup_steps", "0", COLOUR_DATASETS), "coder": Pin("coder", "range", requires="entropy=true")}


def pinned(store: str | None, dataset: str, pins: tuple[str, ...]) -> str | None:
    """The text ``store`` ran as on ``dataset`` with the named :data:`PINS` that apply added, None when none
    applies; KeyError on an unknown pin name."""
    text = store
    for pin in (PINS[name] for name in pins):
        if text is not None and pin.applies(text, dataset):
            text = f"{text}{',' if ':' in text else ':'}{pin.parameter}={pin.value}"
    return None if text == store else text


def renamed_cell(name: str, cell: dict, *, pins: tuple[str, ...] = ()) -> tuple[str, dict] | None:
    """(new file name, new cell) for a cell recorded under a retired name (or under a text the named ``pins`` pin:
    :func:`pinned`), None for any other; ValueError when ``name`` is not the key of ``cell``'s config."""
    config = cell["config"]
    learner, store = config["learner"], config.get("store")
    middle = f"-{learner}-{store or 'nostore'}-"
    digest = config_digest(config)
    if not name.endswith(f"-s{config['seed']}-{digest}.json") or name.count(middle) != 1:
        raise ValueError(f"{name}: not the key of its config (expected '...{middle}...-s{config['seed']}-{digest}')")
    new_learner, new_store = new_text(learner), None if store is None else new_text(store)
    if pins:
        new_store = pinned(new_store or store, config["dataset"], pins) or new_store
    if new_learner is None and new_store is None:
        return None
    config = {**config, "learner": new_learner or learner, "store": new_store or store}
    head, _, tail = name.partition(middle)
    tail = tail[: -len(f"{digest}.json")] + f"{config_digest(config)}.json"
    return f"{head}-{config['learner']}-{config['store'] or 'nostore'}-{tail}", {**cell, "config": config}


def rekey(directory: str | Path, *, dry_run: bool = False, pins: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Re-key the cells of ``directory`` recorded under retired names (and those the named ``pins`` pin); returns
    (old, new) file names. Every file is checked before any is renamed."""
    folder = Path(directory)
    changes = []
    for path in sorted(folder.glob("*.json")):
        renamed = renamed_cell(path.name, json.loads(path.read_text()), pins=pins)
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
    parser.add_argument("--pin", action="append", choices=sorted(PINS), default=[],
                        help="write what recollection cells recorded before a decision ran: ranges=false on colour "
                             "items (0036), activation=relu (0037), warmup_steps=0 on colour items (0038), "
                             "coder=range on entropy-coded ones (0039); repeatable")
    parser.add_argument("--pin-ranges", action="append_const", const="ranges", dest="pin", help="--pin ranges")
    args = parser.parse_args(argv)
    pins = tuple(dict.fromkeys(args.pin))
    for directory in args.dirs:  # every folder is read and checked before any is changed
        if not directory.is_dir() or not any(directory.glob("*.json")):
            parser.error(f"no cell files in {directory} (give a run's OUT/cells)")
        try:
            rekey(directory, dry_run=True, pins=pins)
        except (ValueError, OSError) as exc:
            parser.error(f"{directory}: {type(exc).__name__}: {exc}")
    for directory in args.dirs:
        changes = rekey(directory, dry_run=args.dry_run, pins=pins)
        for old, new in changes:
            print(f"{directory}: {old} -> {new}")
        print(f"{directory}: {len(changes)} cell(s) {'would be ' if args.dry_run else ''}re-keyed")


if __name__ == "__main__":
    main()
