"""GenerativeStore: Ostapenko et al., "Learning to Remember: A Synaptic Plasticity Driven Framework for Continual
Learning" (Dynamic Generative Memory, CVPR 2019).

The store keeps no items: it keeps a masked AC-GAN generator and one binary mask per task, and generates::

    write(x, y):      check ─▶ keep in a transient buffer (the task in progress: never charged, never saved)
    end_task(ctx):    data = ctx.x/ctx.y or the buffer ─▶ on a copy of the networks:
                        train G (fresh mask e^t) and D on the task (memstore.nn.dgm.train_task: eq. 1–6, WGAN-GP + L_c)
                        ─▶ freeze m^t = [e^t > 0] ─▶ grow each hidden layer by the units newly reserved (DGMa) or
                        ⌈weights newly reserved / fan-in⌉ (DGMw) (§3.2)
                      ─▶ charge_models and over budget? BudgetTooSmallError, nothing changed : commit
    sample(n):        labels uniform over the seen classes (or ``classes``) ─▶ G(z, y; M^τ(y)), τ(y) = the task that
                      taught class y ─▶ Batch(x, y, keys=None)

Bits (docs/backends/dgm.md): payload, labels and index are 0; ``models`` is 32 bits per generator parameter (float32)
plus every task's binary masks, each at the smaller of a dense bitmap and a sparse index list
(:func:`memstore.budget.mask_bits`). The discriminator is DGM's task solver (its auxiliary head is the classifier of
their protocol), so like every task model it is kept and saved but not charged.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..budget import Budget, Ledger, mask_bits, param_bits
from ..errors import BudgetTooSmallError, InvalidInputError
from ..nn.acgan import ACGANSpec, Discriminator, MaskedGenerator
from ..nn.dgm import GANTraining, TaskLosses, generate, train_task
from ..nn.dvae import usable_device
from ..nn.masks import MASK_VARIANTS, DGMw, MaskVariant
from ..store import Batch, MemoryStore, TaskContext

__all__ = ["GenerativeStore", "TaskGrowth"]


@dataclass(frozen=True)
class TaskGrowth:
    """What one ``end_task`` reserved and added (their Fig. 4 and Table 4, per task).

    ``reserved[l]``: mask elements newly reserved in layer l (units for DGMa, weights and biases for DGMw);
    ``added[l]``: units added to hidden layer l; ``widths``: hidden units after growth; ``generator_params``: the
    generator's parameters after growth; ``weight_bits`` / ``mask_bits``: the charged bits of both after this task.
    """

    task: int
    classes: tuple[int, ...]
    reserved: tuple[int, ...]
    added: tuple[int, ...]
    widths: tuple[int, ...]
    generator_params: int
    weight_bits: int
    mask_bits: int

    def to_json(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskGrowth:
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


class GenerativeStore(MemoryStore):
    """DGM's generative memory: a masked conditional generator (``variant`` DGMw() or DGMa()) that grows per task.

    ``latent``, ``widths``, ``critic_widths``, ``critic_kernel``, ``critic_norm``, ``canvas``, ``signed`` and
    ``task_norm`` size the AC-GAN and its GAN space, and ``mask_activations`` places DGMa's unit masks
    (:class:`~memstore.nn.acgan.ACGANSpec`); ``training`` sets each task's GAN training
    (:class:`~memstore.nn.dgm.GANTraining`). :meth:`released` builds the released code's MNIST configuration
    (decision 0027). ``device``: where the AC-GAN trains and generates (e.g. ``"cuda"``); items go
    in and come back as CPU tensors, noise is drawn on the CPU, and ``state_dict`` / ``save`` hold CPU tensors
    (decision 0018).
    """

    store_type = "generative"
    max_sample: ClassVar[int | None] = 1 << 16
    keeps_items: ClassVar[bool] = False
    runtime_options: ClassVar[frozenset[str]] = frozenset({"device"})

    def __init__(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int | None = None,
                 num_tasks: int | None = None, variant: MaskVariant | None = None, latent: int = 32,
                 widths: tuple[int, ...] = (32, 16), critic_widths: tuple[int, ...] = (16, 32),
                 critic_kernel: int = 3, critic_norm: bool = False, canvas: tuple[int, int] | None = None,
                 signed: bool = False, task_norm: bool = False, mask_activations: bool = False,
                 training: GANTraining | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__(budget, item_shape, num_classes, seed=seed, num_tasks=num_tasks)
        self.variant = variant or DGMw()
        if not isinstance(self.variant, MaskVariant):
            raise InvalidInputError(f"variant must be DGMw() or DGMa(), got {variant!r}")
        self.training = training or GANTraining()
        if not isinstance(self.training, GANTraining):
            raise InvalidInputError(f"training must be a GANTraining, got {type(training).__name__}")
        try:
            self.spec = ACGANSpec(self.item_shape, num_classes, latent, tuple(widths), tuple(critic_widths),
                                  critic_kernel, critic_norm, None if canvas is None else tuple(canvas), signed,
                                  task_norm, mask_activations)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(str(exc)) from exc
        self.device = usable_device(device)
        init = torch.Generator().manual_seed(self.generator.initial_seed())
        self.model = MaskedGenerator(self.spec, self.variant, init).to(self.device)  # DGMw + mask_activations: refused
        self.discriminator = Discriminator(self.spec, init).to(self.device)
        self.class_slot = torch.full((num_classes,), -1, dtype=torch.int64)  # the task whose mask generates a class
        self.slot_tasks: list[int] = []  # TaskContext.task of each frozen mask
        self.growth: list[TaskGrowth] = []
        self.last_losses: TaskLosses | None = None
        self._pending: list[tuple[Tensor, Tensor]] = []
        if budget.charge_models and self.model_bits() > budget.bits:
            raise BudgetTooSmallError(f"the generator alone needs {self.model_bits()} bits; the budget is "
                                      f"{budget.bits} bits")

    @property
    def filters_by_task(self) -> bool:
        """A generator samples by task whatever ``num_tasks`` is: each class's mask slot records the
        ``TaskContext.task`` that froze it (the last task that taught the class)."""
        return True

    @property
    def consolidates_at_end_task(self) -> bool:
        """``end_task`` trains the AC-GAN on the task, freezes its mask and grows the generator."""
        return True

    @classmethod
    def released(cls, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, variant: MaskVariant,
                 passes: int = 101, lambda_ru: float | None = None, mask_activations: bool = False,
                 seed: int | None = None, num_tasks: int | None = None,
                 device: str | torch.device = "cpu") -> GenerativeStore:
        """The released code's MNIST networks and training (:meth:`ACGANSpec.released`,
        :meth:`GANTraining.released`) for ``variant``, with ``passes`` epochs per task (theirs: 101) and their
        λ_RU unless ``lambda_ru`` is given; ``mask_activations``: HAT's placement of DGMa's unit masks instead of
        theirs (:class:`~memstore.nn.acgan.ACGANSpec`)."""
        net = ACGANSpec.released(tuple(item_shape), num_classes, variant.released_widths)
        return cls(budget, item_shape, num_classes, seed=seed, num_tasks=num_tasks, variant=variant,
                   latent=net.latent, widths=net.widths, critic_widths=net.critic_widths,
                   critic_kernel=net.critic_kernel, critic_norm=net.critic_norm, canvas=net.canvas, signed=net.signed,
                   task_norm=net.task_norm, mask_activations=mask_activations,
                   training=GANTraining.released(variant, passes, lambda_ru), device=device)

    # -- bits --------------------------------------------------------------------------------------------------------

    @staticmethod
    def _bits(model: MaskedGenerator) -> tuple[int, int]:
        weights = param_bits([*model.weights(), *model.norm_tensors()], torch.float32)
        masks = sum(mask_bits(mask) for task in model.bank.frozen for layer in task for mask in layer.values())
        return weights, masks

    def model_bits(self) -> int:
        """Generator parameters at 32 bits plus every task's masks (dense or sparse, the cheaper)."""
        return sum(self._bits(self.model))

    def ledger(self) -> Ledger:
        return Ledger(models=self.model_bits())

    def __len__(self) -> int:
        return 0

    @property
    def can_sample(self) -> bool:
        return bool((self.class_slot >= 0).any())

    # -- writing and consolidating ------------------------------------------------------------------------------------

    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        """Hold the batch for this task's ``end_task``; returns 0, as nothing is stored (the data of the task in
        progress is transient: never charged, never saved, dropped at ``end_task``)."""
        self.check_write(x, y, task)
        if x.shape[0]:
            self._pending.append((x.detach().clone(), y.detach().clone()))
        return 0

    def end_task(self, context: TaskContext) -> None:
        """Train the AC-GAN on the task (``context.x``/``y`` or the written batches), freeze its mask, grow."""
        self.check_task_context(context)
        if context.task is None:
            raise InvalidInputError("GenerativeStore.end_task needs the task's id (TaskContext(task=...)): it keeps "
                                    "a mask per task")
        x, y = self._task_data(context)
        if x.shape[0] == 0:  # nothing was learned in this task: no mask to freeze
            return
        model, disc = copy.deepcopy(self.model), copy.deepcopy(self.discriminator)
        rng = torch.Generator().manual_seed(0)
        rng.set_state(self.generator.get_state())
        losses = train_task(model, disc, x, y, self.class_slot, self.training, rng, self._validation(context))
        reserved = model.bank.freeze()
        added = model.bank.growth(reserved)
        model.grow(added, rng)
        weights, masks = self._bits(model)
        if self.budget.charge_models and weights + masks > self.budget.bits:
            raise BudgetTooSmallError(f"after task {context.task} the generator and masks need {weights + masks} "
                                      f"bits; the budget is {self.budget.bits} bits")
        classes = tuple(int(c) for c in y.unique())
        self.model, self.discriminator, self.last_losses = model, disc, losses
        self.generator.set_state(rng.get_state())
        self.class_slot[list(classes)] = len(self.slot_tasks)
        self.slot_tasks.append(int(context.task))
        self.growth.append(TaskGrowth(int(context.task), classes, tuple(reserved), tuple(added), model.widths,
                                      sum(p.numel() for p in model.weights()), weights, masks))
        self._pending = []

    def _validation(self, context: TaskContext) -> tuple[Tensor, Tensor] | None:
        if context.validation is None:
            return None
        if not isinstance(context.validation, Batch):
            raise InvalidInputError(f"TaskContext.validation must be a Batch, got {type(context.validation).__name__}")
        x, y = context.validation.x, context.validation.y
        self.check_items(x)
        self.check_labels(y, int(x.shape[0]))
        return (x.detach(), y.detach()) if x.shape[0] else None

    def _task_data(self, context: TaskContext) -> tuple[Tensor, Tensor]:
        if context.x is not None or context.y is not None:
            if context.x is None or context.y is None:
                raise InvalidInputError("TaskContext must carry both x and y, or neither")
            self.check_items(context.x)
            self.check_labels(context.y, int(context.x.shape[0]))
            return context.x.detach(), context.y.detach()
        if not self._pending:
            return torch.empty((0, *self.item_shape)), torch.empty(0, dtype=torch.int64)
        return torch.cat([x for x, _ in self._pending]), torch.cat([y for _, y in self._pending])

    # -- sampling ----------------------------------------------------------------------------------------------------

    def sample(self, n: int, *, classes: Any = None, tasks: Any = None, context: Any = None,
               generator: torch.Generator | None = None) -> Batch:
        """``n`` generated items, labels uniform over the seen classes (restricted to ``classes`` / ``tasks``)."""
        n = self.check_count(n)
        self.check_generator(generator)
        self.check_generated(n)
        allowed = self._allowed(classes, tasks)
        if n == 0 or allowed.numel() == 0:
            return Batch(x=torch.empty((0, *self.item_shape)), y=torch.empty(0, dtype=torch.int64))
        generator = generator or self.generator
        labels = allowed[torch.randint(0, allowed.numel(), (n,), generator=generator)]
        x = generate(self.model, labels, self.class_slot[labels], generator)
        return Batch(x=self.spec.to_items(x).cpu(), y=labels)

    def _allowed(self, classes: Any, tasks: Any) -> Tensor:
        seen = self.class_slot >= 0
        if classes is not None:
            wanted = torch.zeros_like(seen)
            wanted[self.check_ids(classes, "classes", self.num_classes)] = True
            seen &= wanted
        if tasks is not None:
            task_ids = set(self.check_ids(tasks, "tasks", None))
            slots_ok = torch.tensor([t in task_ids for t in self.slot_tasks] + [False], dtype=torch.bool)
            seen &= slots_ok[self.class_slot]  # class_slot −1 indexes the trailing False
        return torch.nonzero(seen).flatten()

    # -- persistence -------------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {"budget": {"bits": self.budget.bits, "charge_models": self.budget.charge_models},
                "item_shape": list(self.item_shape), "num_classes": self.num_classes, "seed": self.seed,
                "num_tasks": self.num_tasks, "variant": self.variant.name, "latent": self.spec.latent,
                "widths": list(self.spec.widths), "critic_widths": list(self.spec.critic_widths),
                "critic_kernel": self.spec.critic_kernel, "critic_norm": self.spec.critic_norm,
                "canvas": None if self.spec.canvas is None else list(self.spec.canvas), "signed": self.spec.signed,
                "task_norm": self.spec.task_norm, "mask_activations": self.spec.mask_activations,
                "training": {**asdict(self.training), "betas": list(self.training.betas)}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GenerativeStore:
        kwargs = dict(config)
        kwargs["budget"] = Budget(**config["budget"])
        kwargs["item_shape"] = tuple(config["item_shape"])
        kwargs["variant"] = MASK_VARIANTS[config["variant"]]()
        kwargs["widths"], kwargs["critic_widths"] = tuple(config["widths"]), tuple(config["critic_widths"])
        # the GAN-space options are absent from stores saved before 2026-12-02: their defaults
        kwargs["canvas"] = None if config.get("canvas") is None else tuple(config["canvas"])
        kwargs["training"] = GANTraining(**{**config["training"], "betas": tuple(config["training"]["betas"])})
        return cls(**kwargs)

    def state_dict(self) -> dict[str, Any]:
        """Generator weights (by layer), every frozen mask, the discriminator, the class→mask map, the growth history
        and the RNG state. The transient buffer of the task in progress is not part of the store."""
        layers = {str(i): {"weight": layer.weight.detach().cpu().clone(), "bias": layer.bias.detach().cpu().clone()}
                  for i, layer in enumerate(self.model.layers)}
        masks = {str(t): {str(i): {name: mask.cpu().clone() for name, mask in layer.items()}
                          for i, layer in enumerate(task)} for t, task in enumerate(self.model.bank.frozen)}
        norms = {str(t): {str(i): {name: getattr(norm, name).detach().cpu().clone()
                                   for name in MaskedGenerator.NORM_TENSORS}
                          for i, norm in enumerate(task)} for t, task in enumerate(self.model.norms)}
        disc = {name.replace(".", "_"): value.detach().cpu().clone()
                for name, value in self.discriminator.state_dict().items()}
        return {"payload": np.zeros(0, dtype=np.uint8), "generator_weights": layers, "masks": masks,
                "generator_norms": norms, "discriminator": disc, "class_slot": self.class_slot.clone(),
                "slot_tasks": list(self.slot_tasks),
                "growth": [g.to_json() for g in self.growth], "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        layers = state["generator_weights"]
        widths = tuple(int(layers[str(i)]["weight"].shape[0]) for i in range(len(self.model.layers) - 1))
        model = MaskedGenerator(self.spec, self.variant, torch.Generator().manual_seed(0))
        if any(w < have for w, have in zip(widths, model.widths)):
            raise InvalidInputError(f"state's generator widths {widths} are below this store's {model.widths}")
        model.resize(widths, torch.Generator().manual_seed(0))
        with torch.no_grad():
            for i, layer in enumerate(model.layers):
                for name in ("weight", "bias"):
                    value = torch.as_tensor(layers[str(i)][name])
                    if value.shape != getattr(layer, name).shape:
                        raise InvalidInputError(f"state's generator layer {i} {name} has shape {tuple(value.shape)}")
                    getattr(layer, name).copy_(value)
        model.norms = _norms(state.get("generator_norms", {}))  # absent in saves before 2026-12-02
        model.bank.frozen = [[{name: torch.as_tensor(m).bool() for name, m in state["masks"][str(t)][str(i)].items()}
                              for i in range(len(model.layers))] for t in range(len(state["masks"]))]
        disc = Discriminator(self.spec, torch.Generator().manual_seed(0))
        disc_state = disc.state_dict()
        disc.load_state_dict({name: torch.as_tensor(state["discriminator"][name.replace(".", "_")])
                              for name in disc_state})
        class_slot = torch.as_tensor(state["class_slot"]).to(torch.int64)
        if class_slot.shape != (self.num_classes,) or int(class_slot.max()) >= len(model.bank.frozen):
            raise InvalidInputError("state's class_slot does not match its masks")
        rng = torch.Generator()
        rng.set_state(torch.as_tensor(state["rng"]))
        model.to(self.device)
        model.bank.frozen = [[{name: m.to(self.device) for name, m in layer.items()} for layer in task]
                             for task in model.bank.frozen]
        self.model, self.discriminator, self.class_slot = model, disc.to(self.device), class_slot
        self.slot_tasks = [int(t) for t in state["slot_tasks"]]
        self.growth = [TaskGrowth.from_json(g) for g in state["growth"]]
        self.generator = rng
        self._pending = []


def _norms(state: dict[str, Any]) -> torch.nn.ModuleList:
    """Every task's generator batch norms from a state dict (``task_norm``)."""
    tasks = torch.nn.ModuleList()
    for t in range(len(state)):
        layers = state[str(t)]
        task = torch.nn.ModuleList()
        for i in range(len(layers)):
            values = {name: torch.as_tensor(value) for name, value in layers[str(i)].items()}
            norm = torch.nn.BatchNorm2d(int(values["weight"].shape[0]))
            with torch.no_grad():
                for name, value in values.items():
                    getattr(norm, name).copy_(value)
            task.append(norm)
        tasks.append(task)
    return tasks
