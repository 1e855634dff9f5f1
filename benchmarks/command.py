"""``memstore``: one command for the benchmarks and for looking inside a saved store.

::

    memstore bench [ARGS]       the benchmark grid (python -m benchmarks ARGS; --help for its options)
    memstore frontier [ARGS]    every item store at equal bits on Split MNIST (python -m benchmarks frontier)
    memstore paired [ARGS]      paired differences between stores, seed by seed (python -m benchmarks.paired)
    memstore choose DIR...      the store to pick at each budget (python -m benchmarks.store_choice)
    memstore reliability [ARGS] the saved format under corruption, concurrent readers and killed saves
    memstore inspect PATH       a saved store: type, format, items, ledger by category, what was verified

Only this module is imported for ``--help``: torch loads when a subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

_PASSTHROUGH = {
    "bench": ("benchmarks.cli", [], "the benchmark grid: python -m benchmarks ARGS (memstore bench --help)"),
    "frontier": ("benchmarks.cli", ["frontier"], "every item store at equal bits on Split MNIST, seeds 0-9"),
    "paired": ("benchmarks.paired", [], "paired store differences with tests (memstore paired --help)"),
    "choose": ("benchmarks.store_choice", [], "the store to pick at each budget, from recorded cells"),
    "reliability": ("benchmarks.format_reliability", [], "corruption fuzz, concurrent readers, killed saves"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memstore", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, _, text) in _PASSTHROUGH.items():
        commands.add_parser(name, help=text, add_help=False)  # listed for --help; main() hands its arguments on
    inspect = commands.add_parser("inspect", help="describe a saved store, verifying every checksum",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    inspect.add_argument("path", help="a saved store: a folder, a file:// or fsspec URL")
    return parser


def _inspect(path: str) -> int:
    from memstore.errors import InvalidInputError, StoreFormatError
    from memstore.persist import inspect_store

    if "://" not in path and not Path(path).exists():  # nothing saved there: the caller's mistake, not corruption
        print(f"memstore inspect: {path}: no such file or folder", file=sys.stderr)
        return 2
    try:
        saved = inspect_store(path)
    except InvalidInputError as exc:  # the caller's mistake: nothing saved there, a URL nothing can open
        print(f"memstore inspect: {path}: {exc}", file=sys.stderr)
        return 2
    except StoreFormatError as exc:
        print(f"memstore inspect: {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    store, ledger = saved.store, saved.store.ledger()
    print(f"{path}: {type(store).__name__} (format {saved.format_version}, generation {saved.generation})")
    print(f"  items held     {len(store)}" + (f" of at most {store.capacity}" if store.keeps_items else ""))
    print(f"  item shape     {store.item_shape}, {store.num_classes} classes")
    print(f"  budget         {store.budget.bits} bits; charged {ledger.charged(store.budget)}")
    for field in ("payload", "labels", "index", "models"):
        print(f"    {field:<12} {getattr(ledger, field)} bits")
    print(f"  payload bytes  {saved.payload_bytes} on disk")
    checks = f"digest and {saved.arrays_verified} array hashes" if saved.digest_verified else \
        f"{saved.arrays_verified} array hashes (format 1 has no attribute digest)"
    print(f"  verified       {checks}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _PASSTHROUGH:  # everything after the subcommand is its own (argparse would eat --flags)
        module_name, prefix, _ = _PASSTHROUGH[argv[0]]
        import importlib

        return int(importlib.import_module(module_name).main([*prefix, *argv[1:]]) or 0)
    args = _parser().parse_args(argv)
    return _inspect(args.path)


if __name__ == "__main__":
    sys.exit(main())
