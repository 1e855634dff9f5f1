"""Run one benchmark cell (a learner with a store on a stream, one seed) and grids of them, resumably.

A cell's result is one JSON file named by the cell's key (a readable name plus a hash of its whole configuration);
a grid skips every cell whose file exists, so an interrupted grid picks up where it stopped and a changed setting
never reuses a stale result.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from learners import AccuracyMatrix, Learner
from learners.phases import ScoresByClassMeans
from memstore import MemoryStore, MemstoreError
from memstore.capabilities import MeasuresDistortion

from .datasets import load_dataset
from .executors import run_with_threads
from .parameters import resolve
from .provenance import accelerator, provenance
from .specs import LEARNERS, SETTINGS, STORES, BudgetSpec, MLPSpec, Setting
from .stream_length import with_stream_length
from .streams import Stream, StreamSpec

__all__ = [
    "Cell", "CellParts", "CellResult", "Evaluation", "Grid", "GridRun", "Point", "build_cell", "evaluate_stream",
    "check_cells", "config_digest", "key_fields", "run_cell", "run_grid", "train_and_evaluate", "write_json",
]


def config_digest(config: dict[str, Any]) -> str:
    """The last part of a cell's key: the first 10 hex digits of the SHA-1 of its config as sorted JSON."""
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]


def key_fields(spec: Any) -> dict[str, Any]:
    """``asdict(spec)`` without the fields added after cells were recorded (``metadata={"since": date}``) while
    they hold their default: a cell run before such a field existed keeps its key, one that sets it gets its own."""
    data = asdict(spec)
    for f in fields(spec):
        if "since" in f.metadata and getattr(spec, f.name) == f.default:
            data.pop(f.name)
    return data


@dataclass(frozen=True)
class Cell:
    """One run: ``learner`` with ``store`` at ``budget`` (both None for memoryless learners) on a stream, one seed."""

    dataset: str
    stream: StreamSpec
    setting: Setting
    model: MLPSpec
    learner: str
    store: str | None
    budget: BudgetSpec | None
    seed: int

    def config(self) -> dict[str, Any]:
        """Everything that determines the result, JSON-ready."""
        return {
            "dataset": self.dataset,
            "stream": {"kind": self.stream.name, **key_fields(self.stream)},
            "setting": {**key_fields(self.setting), "metric": self.setting.metric.name},
            "model": key_fields(self.model),
            "learner": self.learner,
            "store": self.store,
            "budget": None if self.budget is None else asdict(self.budget),
            "seed": self.seed,
        }

    @property
    def key(self) -> str:
        digest = config_digest(self.config())
        budget = "none" if self.budget is None else self.budget.label.replace(" ", "")
        parts = [self.dataset, self.stream.name, self.setting.name, self.learner, self.store or "nostore", budget]
        return "-".join(parts) + f"-s{self.seed}-{digest}"


@dataclass(frozen=True)
class CellResult:
    """A finished cell: its configuration, accuracy matrix, what the store held and the wall time."""

    config: dict[str, Any]
    matrix: AccuracyMatrix
    accuracy: float  # the setting's metric
    items: int
    bits_charged: int
    budget_bits: int
    seconds: float
    #: the store's round-trip L1 over its last stored items (``store.distortion()``); None for stores of no items
    distortion: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)
    #: the store's models in bits (``ledger().models``: a generator, a dVAE), charged to its budget or not; None in
    #: results recorded before it was
    model_bits: int | None = None
    #: the class-mean classifier's matrix and metric (iCaRL's NME) for learners that score that way, else None
    class_mean_matrix: AccuracyMatrix | None = None
    class_mean_accuracy: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "matrix": [list(row) for row in self.matrix.values],
            "test_sizes": list(self.matrix.test_sizes),
            "accuracy": self.accuracy,
            "average_accuracy": self.matrix.average_accuracy(),
            "retention": self.matrix.retention(),
            "forgetting": self.matrix.forgetting(),
            "learning_accuracy": self.matrix.learning_accuracy(),
            "items": self.items,
            "bits_charged": self.bits_charged,
            "budget_bits": self.budget_bits,
            "seconds": self.seconds,
            "distortion": self.distortion,
            "provenance": self.provenance,
            "model_bits": self.model_bits,
            **({} if self.class_mean_matrix is None else {
                "class_mean_matrix": [list(row) for row in self.class_mean_matrix.values],
                "class_mean_accuracy": self.class_mean_accuracy}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellResult:
        matrix = AccuracyMatrix.from_rows(data["matrix"], data["test_sizes"])
        by_means = data.get("class_mean_matrix")
        return cls(
            data["config"], matrix, data["accuracy"], data["items"], data["bits_charged"], data["budget_bits"],
            data["seconds"], data.get("distortion"), data.get("provenance", {}), data.get("model_bits"),
            None if by_means is None else AccuracyMatrix.from_rows(by_means, data["test_sizes"]),
            data.get("class_mean_accuracy"),
        )


@dataclass(frozen=True)
class Evaluation:
    """What a run measured: the head's accuracy matrix, and the class-mean one for learners that score that way
    (:class:`~learners.phases.ScoresByClassMeans`; None for the others)."""

    matrix: AccuracyMatrix
    class_means: AccuracyMatrix | None = None


def evaluate_stream(
    learner: Learner, stream: Stream, *, batch_size: int = 10, task_aware: bool = True, class_balanced: bool = False
) -> Evaluation:
    """Feed ``stream`` to ``learner`` in batches, evaluating on every task's test set after each task.

    ``task_aware=False`` is task-free use: no task ids and no ``end_task`` calls reach the learner.
    ``class_balanced``: a task's head accuracy is the mean over its classes of their accuracies.
    """
    matrix = AccuracyMatrix((), stream.test_sizes)
    by_means = matrix if isinstance(learner, ScoresByClassMeans) else None
    for task in stream:
        for x, y in task.batches(batch_size):
            learner.observe(x, y, task=task.index if task_aware else None)
        if task_aware:
            learner.end_task(task.index)
        matrix = matrix.with_row([_head_accuracy(learner, t.test_x, t.test_y, class_balanced) for t in stream])
        if by_means is not None:
            by_means = by_means.with_row([learner.score_class_means(t.test_x, t.test_y).accuracy  # type: ignore
                                          for t in stream])
    return Evaluation(matrix, by_means)


def _head_accuracy(learner: Learner, x: Tensor, y: Tensor, class_balanced: bool) -> float:
    if not class_balanced:
        return learner.score(x, y).accuracy
    return statistics.fmean(learner.score(x[y == c], y[y == c]).accuracy for c in y.unique().tolist())


def train_and_evaluate(
    learner: Learner, stream: Stream, *, batch_size: int = 10, task_aware: bool = True
) -> AccuracyMatrix:
    """:func:`evaluate_stream`'s head accuracy matrix."""
    return evaluate_stream(learner, stream, batch_size=batch_size, task_aware=task_aware).matrix


def _build_store(cell: Cell, stream: Stream, device: str) -> MemoryStore | None:
    if cell.store is None or cell.budget is None:
        return None
    num_tasks = len(stream) if cell.setting.task_aware else None
    budget = cell.budget.resolve(stream.item_shape, stream.num_classes, num_tasks)
    spec = with_stream_length(resolve(cell.store, STORES, "store"), stream.train_items)
    return spec.build(budget, stream.item_shape, stream.num_classes, seed=cell.seed, num_tasks=num_tasks,
                      device=device, calibration=stream.tasks[0].train_x)


@dataclass(frozen=True, eq=False)
class CellParts:
    """What :func:`build_cell` builds for a cell: its stream, the learner (with its seeded model) and the store."""

    stream: Stream
    learner: Learner
    store: MemoryStore | None


def build_cell(cell: Cell, *, data_root: str | None = None, device: str = "cpu") -> CellParts:
    """The stream, model (seeded init), store and learner of ``cell``, untrained (``run_cell`` trains them; a
    figure that needs the trained objects runs :func:`train_and_evaluate` on them itself)."""
    dataset = load_dataset(cell.dataset, data_root)
    return _assembled(cell, cell.stream.build(dataset, torch.Generator().manual_seed(cell.seed)), device)


def _assembled(cell: Cell, stream: Stream, device: str) -> CellParts:
    model = cell.model.seeded(stream.item_shape, stream.num_classes, cell.seed, stream.tasks[0].train_x)
    store = _build_store(cell, stream, device)
    spec = resolve(cell.learner, LEARNERS, "learner")
    return CellParts(stream, spec.build(model, store, cell.setting, torch.Generator().manual_seed(cell.seed)), store)


def check_cells(cells: Iterable[Cell], *, data_root: str | None = None) -> None:
    """Build, and drop, one cell of each configuration among ``cells`` (its first seed), before any of them runs: a
    spec whose values its store or learner refuses (``jpeg:quality=0``, ``recollection:lr=nan``) fails here, as a
    ValueError naming the cell, instead of after other cells have run. Streams are built once per seed."""
    streams: dict[tuple[str, str, int], Stream] = {}
    checked: set[str] = set()
    for cell in cells:
        identity = config_digest({**cell.config(), "seed": None})
        if identity in checked:
            continue
        checked.add(identity)
        where = (cell.dataset, repr(cell.stream), cell.seed)
        if where not in streams:
            streams[where] = cell.stream.build(load_dataset(cell.dataset, data_root),
                                               torch.Generator().manual_seed(cell.seed))
        try:
            _assembled(cell, streams[where], "cpu")
        except (ValueError, TypeError, MemstoreError) as exc:
            raise ValueError(f"{cell.key.rsplit('-', 2)[0]}: {exc}") from exc


def run_cell(cell: Cell, *, data_root: str | None = None, device: str = "cpu",
             keep_store: Path | None = None) -> CellResult:
    """Build ``cell`` (:func:`build_cell`); train; evaluate; save the trained store to ``keep_store`` if given.

    ``device``: where the store's network computes (the learner's model stays on the CPU). It is an execution
    detail, not part of the cell's identity: it is recorded in the result's provenance, not in its key."""
    start = time.perf_counter()
    produced_by = provenance()
    parts = build_cell(cell, data_root=data_root, device=device)
    store = parts.store
    evaluation = evaluate_stream(
        parts.learner, parts.stream, batch_size=cell.setting.batch_size, task_aware=cell.setting.task_aware,
        class_balanced=cell.setting.class_balanced,
    )
    matrix, by_means = evaluation.matrix, evaluation.class_means
    if keep_store is not None and store is not None:
        store.save(keep_store)
    return CellResult(
        config=cell.config(),
        matrix=matrix,
        accuracy=cell.setting.metric(matrix),
        items=0 if store is None else len(store),
        bits_charged=0 if store is None else store.ledger().charged(store.budget),
        budget_bits=0 if store is None else store.budget.bits,
        seconds=time.perf_counter() - start,
        distortion=store.distortion().l1 if isinstance(store, MeasuresDistortion) else None,
        provenance={**produced_by, "store_device": device, **accelerator(device)},
        model_bits=0 if store is None else store.ledger().models,
        class_mean_matrix=by_means,
        class_mean_accuracy=None if by_means is None else cell.setting.metric(by_means),
    )


@dataclass(frozen=True)
class Point:
    """One (learner, store) pair run beside a grid's cross product at ``budget`` under the setting named ``setting``
    (None: the grid's). ARM and DGM work with one store only and keep no items: at a 0-bit budget they sit on the
    frontier at the bits of the model they keep (each result's ``model_bits``). Exemplar stores need a task-aware
    learner that hands them each task's data: points at the grid's budgets."""

    learner: str
    store: str
    setting: str | None = None
    budget: BudgetSpec = BudgetSpec(bits=0)


@dataclass(frozen=True)
class Grid:
    """Stores x budgets x learners x seeds on one stream and setting, plus each of ``points`` x seeds. Memoryless
    learners get one cell per seed."""

    dataset: str
    stream: StreamSpec
    setting: Setting
    model: MLPSpec
    stores: tuple[str, ...]
    budgets: tuple[BudgetSpec, ...]
    learners: tuple[str, ...]
    seeds: tuple[int, ...]
    points: tuple[Point, ...] = ()

    def __post_init__(self) -> None:
        for store in (*self.stores, *(p.store for p in self.points)):  # a bad name raises ValueError naming the known
            resolve(store, STORES, "store")
        for learner in (*self.learners, *(p.learner for p in self.points)):
            resolve(learner, LEARNERS, "learner")
        for point in self.points:
            if point.setting is not None and point.setting not in SETTINGS:
                raise ValueError(f"unknown setting {point.setting!r}; known: {sorted(SETTINGS)}")

    def cells(self) -> list[Cell]:
        cells = []
        for learner in self.learners:
            if resolve(learner, LEARNERS, "learner").uses_memory:
                combos: Iterable[tuple[str | None, BudgetSpec | None]] = [
                    (s, b) for s in self.stores for b in self.budgets
                ]
            else:
                combos = [(None, None)]
            for store, budget in combos:
                for seed in self.seeds:
                    cells.append(
                        Cell(self.dataset, self.stream, self.setting, self.model, learner, store, budget, seed)
                    )
        for point in self.points:
            setting = self.setting if point.setting is None else SETTINGS[point.setting]
            cells += [Cell(self.dataset, self.stream, setting, self.model, point.learner, point.store, point.budget,
                           seed) for seed in self.seeds]
        return cells


@dataclass(frozen=True)
class GridRun:
    """A grid's results in cell order, and how many cells were computed now vs found finished."""

    results: tuple[CellResult, ...]
    computed: int
    skipped: int
    cell_dir: Path = field(compare=False)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` as a cell file is written (sorted keys, indent 1), atomically."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)  # atomic: a killed run leaves no half-written cell


def run_grid(
    grid: Grid,
    out_dir: str | os.PathLike[str],
    *,
    data_root: str | None = None,
    progress: bool = True,
    run: Callable[..., CellResult] = run_cell,
    keep_stores: bool = False,
    recompute: bool = False,
    executor: concurrent.futures.Executor | None = None,
    threads: int = 1,
) -> GridRun:
    """Run every cell of ``grid`` whose result is not yet under ``out_dir/cells``; return all the grid's results.
    ``keep_stores``: also save each computed cell's trained store beside its result (``cells/<key>.store``);
    ``recompute``: run every cell, replacing the finished ones; ``executor``: run the cells to compute there
    (:mod:`benchmarks.executors`; ``threads`` torch threads each), writing each result as it arrives."""
    cell_dir = Path(out_dir) / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    finished: dict[str, CellResult] = {}
    pending = []
    for cell in grid.cells():
        path = cell_dir / f"{cell.key}.json"
        if path.exists() and not recompute:
            finished[cell.key] = CellResult.from_json(json.loads(path.read_text()))
        else:
            pending.append(cell)
    skipped = len(finished)
    bar = tqdm(total=len(finished) + len(pending), initial=skipped, desc="cells", unit="cell", disable=not progress,
               dynamic_ncols=True)
    for cell, result in _computed(pending, executor, run, threads, data_root, cell_dir if keep_stores else None):
        write_json(cell_dir / f"{cell.key}.json", result.to_json())
        finished[cell.key] = result
        bar.set_postfix_str(cell.key.rsplit("-", 1)[0], refresh=False)
        bar.update()
    bar.close()
    results = tuple(finished[cell.key] for cell in grid.cells())
    return GridRun(results, len(pending), skipped, cell_dir)


def _computed(cells: list[Cell], executor: concurrent.futures.Executor | None, run: Callable[..., CellResult],
              threads: int, data_root: str | None, store_dir: Path | None) -> Iterable[tuple[Cell, CellResult]]:
    """(cell, result) as each cell finishes: in order here, in completion order on an executor."""
    def options(cell: Cell) -> dict[str, Any]:
        kept = {} if store_dir is None else {"keep_store": store_dir / f"{cell.key}.store"}
        return {"data_root": data_root, **kept}

    if executor is None:
        for cell in cells:
            yield cell, run(cell, **options(cell))
        return
    futures = {executor.submit(run_with_threads, run, threads, cell, **options(cell)): cell for cell in cells}
    for future in concurrent.futures.as_completed(futures):
        yield futures[future], future.result()
