""":class:`DynamicSparsity`: the engine that evolves a sparse network's masks during training.

Usage from a training loop of your own::

    ds = DynamicSparsity(model, masks, "set", epochs=E, steps_per_epoch=len(loader),
                         optimizer=optimizer, drop_fraction=0.3, schedule="constant")
    for epoch in range(E):
        for x, y in loader:
            optimizer.zero_grad(); F.cross_entropy(model(x), y).backward(); optimizer.step()
            ds.step(batch=(x, y))      # decides whether this step is an update step
    ds.masks, ds.history, ds.itop_rate

``pruners.train(..., dst=ds_or_spec)`` and ``topometrics train --dst METHOD`` drive it
for you.

What the engine does
--------------------
* At construction it validates the masks (one per prunable layer, see
  :func:`topocore.masks.validate_masks`; layers a model keeps dense, like the ``mlp``'s
  readout, are not prunable and never masked) and installs them on the model as
  :mod:`torch.nn.utils.prune` buffers, with the raw weights zeroed where pruned.
* The forward pass uses ``weight_orig * weight_mask``, so pruned weights are exactly 0 at
  every step.  The raw weights and the optimiser state are zeroed where pruned at
  construction and at every update; they then stay exactly 0 under any optimiser whose
  step is zero where the gradient and the state are zero (SGD with momentum and weight
  decay, Adam, AdamW), since the masked gradient is 0 there.  (``pruners.train`` also
  re-applies the masks after every step.)
* ``step()`` counts the step and, at an update step, asks the method which links to drop and to regrow,
  checks the answer (dropped links were active, regrown ones inactive before the
  update, counts exact), writes the new masks, sets the weights of regrown links to 0
  and zeroes the optimiser state (every per-parameter tensor of the weight's shape:
  SGD momentum, Adam moments) at dropped and regrown positions.
* Update steps: every ``update_every`` epochs (``update_unit="epoch"``; an epoch is
  ``steps_per_epoch`` calls of ``step()``) or steps, while the training progress
  ``step / (epochs * steps_per_epoch)`` is below ``stop_at``.  No update happens after the
  last step of training.
* Drop fraction at progress ``p``: ``drop_fraction`` (``schedule="constant"``) or
  ``drop_fraction / 2 * (1 + cos(pi * p / stop_at))`` (``"cosine"``, Evci et al. 2020).
* Targets: per layer for ``set``/``rigl``/``ch3l3`` (every layer keeps its active
  count), global for ``snfs``/``dsr`` (layers exchange links; the sum is fixed).  A layer
  never loses its last link and drops at most as many links as it has inactive
  positions (regrowth takes positions that were inactive before the update).
* Layers of density 0 or 1 at construction have nothing to drop or nothing to regrow:
  they are left out of every update (a documented no-op, announced by a warning and
  listed in :attr:`DynamicSparsity.frozen`).
* :attr:`history` is a tidy table, one row per layer and update (update 0 is the
  initial state): ``update, epoch, step, layer, active, dropped, regrown,
  regrown_random, itop, drop_fraction``; ``itop`` is the fraction of the layer's
  positions that have ever been active (the in-time over-parameterization rate of Liu et
  al. 2021), :attr:`itop_rate` the same over all masked layers.
* ``record_every=k`` keeps the masks (bit-packed) at update 0 and every k-th update
  (:meth:`recorded_states`).  Their topometrics are measured by the application layer,
  ``topometrics.topology_trajectory(ds, metrics=..., input_shape=...)``
  (:mod:`topometrics.workflows.trajectory`): :mod:`pruners` imports :mod:`topocore` only
  (the import-linter contracts of ``pyproject.toml``), so the engine records the states
  and never builds graphs itself.
* :meth:`state_dict` / :meth:`load_state_dict` hold everything needed to resume
  (masks, counters, generator, history, tracked momentum, recorded states).

Randomness comes from one CPU ``torch.Generator`` seeded by ``random_state``, so the same
``random_state`` (and the same training) gives the same masks on CPU and CUDA.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from topocore.errors import InputError
from topocore.masks import prunable_layers, raw_weight, validate_masks
from topocore.random import seed_of

from ..masks import apply_masks
from ._common import DSTMethod, LayerChange, LayerView, UpdateContext
from .gradients import MomentumTracker, dense_gradients
from .schedule import check_config, drop_fraction_at, positive_int

__all__ = ["DynamicSparsity", "HISTORY_COLUMNS"]

#: Columns of :attr:`DynamicSparsity.history`.
HISTORY_COLUMNS = ("update", "epoch", "step", "layer", "active", "dropped", "regrown", "regrown_random", "itop", "drop_fraction")


class DynamicSparsity:
    """Evolve the masks of ``model`` during training with a dynamic-sparse-training method.

    Parameters
    ----------
    model : torch.nn.Module
        The network; the masks are installed on it (``torch.nn.utils.prune`` buffers).
    masks : dict
        ``{param_name: bool tensor}``, one per prunable layer (e.g. from
        :func:`pruners.prune`).  Their active counts are the targets kept by every update.
    method : str
        A name in :data:`pruners.dst.METHODS` (``set``/``rlr``, ``rigl``, ``snfs``, ``dsr``,
        ``ch3l3``).
    epochs, steps_per_epoch : int, optional
        Length of training, needed by the schedule before the first ``step()``;
        :func:`pruners.train` fills them in.
    drop_fraction : float
        Fraction of a layer's active links dropped (and regrown) at an update, in (0, 1).
    schedule : {"cosine", "constant"}
        Cosine annealing of the drop fraction to 0 at ``stop_at`` (RigL), or constant.
    update_every : int
        Updates every this many ``update_unit``.
    update_unit : {"epoch", "step"}
    stop_at : float
        No update from this fraction of training on, in (0, 1].
    random_state : None, int or numpy Generator
        Seeds every random draw of the engine.
    optimizer : torch.optim.Optimizer, optional
        Its per-parameter state is zeroed at dropped and regrown positions (give it when
        your optimiser keeps state, e.g. momentum).
    data : DataLoader, Dataset or (inputs, labels), optional
        Batches for the dense gradient of ``rigl`` when ``step()`` receives no ``batch``.
    loss_fn : callable, optional
        ``loss_fn(outputs, labels)`` for that gradient (default cross-entropy).
    record_every : int, optional
        Keep the masks of update 0 and of every ``record_every``-th update (:meth:`recorded_states`;
        measured by ``topometrics.topology_trajectory(ds)``).
    input_shape : tuple, optional
        Input shape of one sample, the default of ``topometrics.topology_trajectory(ds)``.
    **method_options
        Options of the method (see :func:`pruners.dst.method_options`).
    """

    def __init__(
        self,
        model: nn.Module,
        masks: Mapping[str, Any],
        method: str,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        drop_fraction: float = 0.3,
        schedule: str = "cosine",
        update_every: int = 1,
        update_unit: str = "epoch",
        stop_at: float = 0.75,
        random_state: Any = 0,
        optimizer: torch.optim.Optimizer | None = None,
        data: Any = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        record_every: int | None = None,
        input_shape: tuple[int, ...] | None = None,
        **method_options: Any,
    ) -> None:
        config = check_config(method, drop_fraction=drop_fraction, schedule=schedule, update_every=update_every,
                              update_unit=update_unit, stop_at=stop_at, **method_options)
        self.method: DSTMethod = config.pop("method")
        self.options = config.pop("options")
        drop_fraction, schedule, update_every, update_unit, stop_at = (
            config["drop_fraction"], config["schedule"], config["update_every"], config["update_unit"], config["stop_at"])
        if not isinstance(model, nn.Module):
            raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.record_every = positive_int("record_every", record_every, allow_none=True)
        layers = list(prunable_layers(model))
        if not layers:
            raise InputError(f"{type(model).__name__} has no prunable (Conv or Linear) layers to train sparsely")
        checked = validate_masks(model, masks, missing="error", device=None)

        self.model = model
        self.drop_fraction = drop_fraction
        self.schedule = schedule
        self.update_every = update_every
        self.update_unit = update_unit
        self.stop_at = stop_at
        self.random_state = seed_of(random_state)
        self.optimizer = optimizer
        self.data = data
        self.loss_fn = loss_fn if loss_fn is not None else F.cross_entropy
        self.input_shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
        self.epochs: int | None = None
        self.steps_per_epoch: int | None = None
        self.bind(epochs=epochs, steps_per_epoch=steps_per_epoch)

        self._modules = dict(layers)
        self.names = [name for name, _ in layers]
        self._masks = {name: checked[name].clone() for name in self.names}
        self.targets = {name: int(m.sum()) for name, m in self._masks.items()}
        self.frozen = [name for name, m in self._masks.items() if int(m.sum()) in (0, m.numel())]
        if self.frozen:
            warnings.warn(
                f"layer(s) {', '.join(self.frozen)} have density 0 or 1: nothing to drop or regrow there, so dynamic "
                "sparse training leaves them as they are",
                stacklevel=2,
            )
        self._ever = {name: m.clone() for name, m in self._masks.items()}
        self._generator = torch.Generator().manual_seed(self.random_state)
        self.method_state: dict[str, Any] = {}
        self._step = 0
        self._update = 0
        self._rows: list[dict[str, Any]] = []
        self._recorded: list[dict[str, Any]] = []
        self._tracker: MomentumTracker | None = None
        self._stream = None

        apply_masks(model, self._masks)
        self._enforce()
        if "momentum" in self.method.needs:
            self._tracker = MomentumTracker({n: self._modules[n] for n in self.names}, self.options.get("momentum", 0.9))
        self._log(0.0, {})
        if self.record_every is not None:
            self._record()

    # ------------------------------------------------------------------ configuration

    @classmethod
    def from_spec(cls, spec: Any, model: nn.Module, masks: Mapping[str, Any] | None, **defaults: Any) -> "DynamicSparsity":
        """A :class:`DynamicSparsity` from ``spec``: a method name, or a dict of keyword arguments with ``"method"``.

        ``defaults`` (e.g. ``epochs``, ``optimizer``, ``random_state``) apply where ``spec`` does not set them.
        """
        if isinstance(spec, str):
            spec = {"method": spec}
        if not isinstance(spec, Mapping) or "method" not in spec:
            raise InputError(
                "dst must be a method name (e.g. 'set'), a dict with 'method' and DynamicSparsity options, "
                f"or a DynamicSparsity; got {spec!r}"
            )
        kwargs = {**defaults, **dict(spec)}
        method = kwargs.pop("method")
        return cls(model, masks, method, **kwargs)

    def bind(self, *, epochs: int | None, steps_per_epoch: int | None) -> "DynamicSparsity":
        """Set the training length (``epochs`` and ``steps_per_epoch``) if not set; check it otherwise."""
        for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
            value = positive_int(name, value, allow_none=True)
            current = getattr(self, name)
            if value is None:
                continue
            if current is not None and current != value:
                raise InputError(f"this DynamicSparsity was set up for {name}={current}, the training has {value}")
            setattr(self, name, value)
        return self

    def to(self, device: Any) -> "DynamicSparsity":
        """Move the engine's tensors (masks, tracked momentum) to ``device``, after moving the model there."""
        self._masks = {n: m.to(device) for n, m in self._masks.items()}
        self._ever = {n: m.to(device) for n, m in self._ever.items()}
        if self._tracker is not None:
            self._tracker.to(device)
        return self

    @property
    def total_steps(self) -> int:
        if self.epochs is None or self.steps_per_epoch is None:
            raise InputError(
                "DynamicSparsity needs the training length for its schedule: pass epochs=... and steps_per_epoch=... "
                "(e.g. len(train_loader))"
            )
        return self.epochs * self.steps_per_epoch

    def describe(self) -> dict[str, Any]:
        """Method, schedule and options as plain data (stored in checkpoints as ``meta["dst"]``)."""
        return {
            "method": self.method.name,
            "drop_fraction": self.drop_fraction,
            "schedule": self.schedule,
            "update_every": self.update_every,
            "update_unit": self.update_unit,
            "stop_at": self.stop_at,
            "random_state": self.random_state,
            "options": {k: v for k, v in self.options.items()},
            "record_every": self.record_every,
            "updates": self._update,
            "itop_rate": self.itop_rate,
            "frozen_layers": list(self.frozen),
        }

    # ------------------------------------------------------------------ state

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        """The current masks ``{param_name: bool tensor}`` (copies)."""
        return {name: m.clone() for name, m in self._masks.items()}

    @property
    def step_count(self) -> int:
        return self._step

    @property
    def update_count(self) -> int:
        return self._update

    @property
    def tracked_momentum(self) -> dict[str, torch.Tensor] | None:
        """The momentum of the dense gradient tracked for ``snfs`` (``None`` for the other methods)."""
        return None if self._tracker is None else self._tracker.momentum

    @property
    def itop_rate(self) -> float:
        """Fraction of all masked positions that have been active at some point."""
        ever = sum(int(e.sum()) for e in self._ever.values())
        total = sum(int(e.numel()) for e in self._ever.values())
        return ever / total if total else float("nan")

    @property
    def history(self):
        """Tidy ``pandas.DataFrame``, one row per layer and update (see the module docstring)."""
        import pandas as pd

        return pd.DataFrame(self._rows, columns=list(HISTORY_COLUMNS))

    def history_records(self) -> dict[str, list]:
        """:attr:`history` as ``{column: list}`` of plain values (for checkpoint metadata)."""
        return {c: [row[c] for row in self._rows] for c in HISTORY_COLUMNS}

    # ------------------------------------------------------------------ training-loop API

    def is_update_step(self, step: int) -> bool:
        """Whether the ``step``-th call of :meth:`step` (1-based) updates the masks."""
        period = self.update_every * (self.steps_per_epoch if self.update_unit == "epoch" else 1)
        return step % period == 0 and step / self.total_steps < self.stop_at

    def step(self, batch: Any = None, *, grad_scale: float | None = None) -> bool:
        """Call after every optimiser step; returns whether the masks were updated.

        Parameters
        ----------
        batch : (inputs, labels), optional
            The batch just trained on: ``rigl`` computes its dense gradient on it (else on
            the next batch of ``data``).
        grad_scale : float, optional
            The loss scale of mixed-precision training for this step (``snfs`` divides the
            tracked gradients by it).
        """
        total = self.total_steps
        if self._step >= total:
            raise InputError(
                f"step() called more than {total} times, the training length given (epochs x steps_per_epoch); "
                "set epochs and steps_per_epoch to the real training length"
            )
        if self._tracker is not None:
            self._tracker.fold(grad_scale)
        self._step += 1
        if not self.is_update_step(self._step):
            return False
        self._apply_update(batch)
        return True

    def close(self) -> None:
        """Remove the gradient hooks of ``snfs`` (the masks stay on the model)."""
        if self._tracker is not None:
            self._tracker.close()

    # ------------------------------------------------------------------ recorded states (topology trajectory)

    def recorded_states(self) -> list[dict[str, Any]]:
        """The recorded states: ``[{"update", "epoch", "step", "masks": {name: bool tensor}}]`` (CPU)."""
        out = []
        for rec in self._recorded:
            masks = {}
            for name, packed in rec["packed"].items():
                shape = tuple(rec["shapes"][name])
                bits = np.unpackbits(packed.numpy(), count=int(np.prod(shape)))
                masks[name] = torch.from_numpy(bits.reshape(shape).astype(bool))
            out.append({"update": rec["update"], "epoch": rec["epoch"], "step": rec["step"], "masks": masks})
        return out

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (tensors and plain data; loadable with ``weights_only=True``)."""
        return {
            "config": {k: v for k, v in self.describe().items() if k not in ("updates", "itop_rate", "frozen_layers")},
            "step": self._step,
            "update": self._update,
            "masks": {n: m.detach().cpu() for n, m in self._masks.items()},
            "ever": {n: m.detach().cpu() for n, m in self._ever.items()},
            "generator": self._generator.get_state(),
            "rows": self.history_records(),
            "recorded": [dict(rec) for rec in self._recorded],
            "momentum": {n: m.detach().cpu() for n, m in (self._tracker.momentum if self._tracker else {}).items()},
            "method_state": dict(self.method_state),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> "DynamicSparsity":
        """Restore :meth:`state_dict` (same method and layers) and re-install its masks on the model."""
        config = state.get("config", {})
        if config.get("method") != self.method.name:
            raise InputError(f"the saved dynamic sparse training state is for {config.get('method')!r}, not {self.method.name!r}")
        masks = validate_masks(self.model, state["masks"], missing="error", device=None)
        self._masks = {n: masks[n].clone() for n in self.names}
        self._ever = {n: state["ever"][n].to(self._masks[n].device).bool() for n in self.names}
        self._step = int(state["step"])
        self._update = int(state["update"])
        self._generator.set_state(state["generator"])
        rows = state["rows"]
        self._rows = [dict(zip(HISTORY_COLUMNS, values)) for values in zip(*(rows[c] for c in HISTORY_COLUMNS))]
        self._recorded = [dict(rec) for rec in state.get("recorded", [])]
        if self._tracker is not None:
            self._tracker.load(state["momentum"])
        self.method_state = dict(state.get("method_state") or {})
        apply_masks(self.model, self._masks)
        self._enforce()
        return self

    # ------------------------------------------------------------------ internals

    @torch.no_grad()
    def _enforce(self) -> None:
        """Zero the raw weights and the optimiser state wherever a mask is False."""
        for name in self.names:
            module = self._modules[name]
            weight = raw_weight(module)
            keep = self._masks[name].to(weight.dtype)
            weight.mul_(keep)
            if self.optimizer is not None:
                for value in self.optimizer.state.get(weight, {}).values():
                    if isinstance(value, torch.Tensor) and value.shape == weight.shape:
                        value.mul_(keep.to(value.dtype))

    def _next_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if batch is None:
            if self.data is None:
                raise InputError(
                    f"{self.method.name} computes a dense gradient at update steps: pass the batch just trained on "
                    "(ds.step(batch=(x, y))) or data=... when creating the DynamicSparsity"
                )
            if self._stream is None:
                from ..methods._common import DataStream

                self._stream = DataStream(self.data, self.method.name)
            batch = self._stream.take(128)
        if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
            raise InputError(f"batch must be an (inputs, labels) pair, got {type(batch).__name__}")
        return batch[0], batch[1]

    def _dense_gradients(self, batch: Any) -> dict[str, torch.Tensor]:
        x, y = self._next_batch(batch)
        return dense_gradients(self.model, {n: self._modules[n] for n in self.names}, self.loss_fn, x, y)

    def _apply_update(self, batch: Any) -> None:
        progress = self._step / self.total_steps
        fraction = drop_fraction_at(progress, self.drop_fraction, self.schedule, self.stop_at)
        views = []
        for name in self.names:
            if name in self.frozen:
                continue
            weight = raw_weight(self._modules[name]).detach()
            mask = self._masks[name]
            views.append(LayerView(name, tuple(mask.shape), mask.view(-1), (weight * mask).reshape(-1)))
        changes: dict[str, LayerChange] = {}
        if views:
            ctx = UpdateContext(
                layers=views,
                fraction=fraction,
                generator=self._generator,
                state=self.method_state,
                gradients=(lambda: self._dense_gradients(batch)) if "gradient" in self.method.needs else None,
                momentum={n: m.reshape(-1) for n, m in self._tracker.momentum.items()} if self._tracker is not None else None,
            )
            changes = self.method.function(ctx, **self.options)
            self._check(views, changes)
            self._write(changes)
        self._update += 1
        self._log(fraction, changes)
        if self.record_every is not None and self._update % self.record_every == 0:
            self._record()

    def _check(self, views: list[LayerView], changes: Mapping[str, LayerChange]) -> None:
        """Refuse (as a bug of the method) any update breaking the engine's invariants."""
        name = self.method.name
        if set(changes) != {v.name for v in views}:
            raise RuntimeError(f"internal error in {name!r}: changes for {sorted(changes)}, layers {[v.name for v in views]}")
        dropped_total = regrown_total = 0
        for view in views:
            change = changes[view.name]
            dropped = change.dropped.to(view.mask.device)
            regrown = change.regrown.to(view.mask.device)
            problems = []
            if dropped.numel() and (not bool(view.mask[dropped].all()) or int(torch.unique(dropped).numel()) != dropped.numel()):
                problems.append("dropped positions that were not active (or twice)")
            if regrown.numel() and (bool(view.mask[regrown].any()) or int(torch.unique(regrown).numel()) != regrown.numel()):
                problems.append("regrew positions that were active (or twice)")
            if self.method.scope == "layer" and dropped.numel() != regrown.numel():
                problems.append(f"dropped {dropped.numel()} but regrew {regrown.numel()}")
            if problems:
                raise RuntimeError(f"internal error in {name!r} on {view.name}: " + "; ".join(problems))
            dropped_total += int(dropped.numel())
            regrown_total += int(regrown.numel())
        if dropped_total != regrown_total:
            raise RuntimeError(f"internal error in {name!r}: dropped {dropped_total} links but regrew {regrown_total}")

    @torch.no_grad()
    def _write(self, changes: Mapping[str, LayerChange]) -> None:
        for name, change in changes.items():
            module = self._modules[name]
            weight = raw_weight(module)
            mask = self._masks[name]
            flat = mask.view(-1)
            dropped = change.dropped.to(mask.device)
            regrown = change.regrown.to(mask.device)
            flat[dropped] = False
            flat[regrown] = True
            touched = torch.cat([dropped, regrown])
            weight.view(-1)[touched] = 0.0
            if self.optimizer is not None:
                for value in self.optimizer.state.get(weight, {}).values():
                    if isinstance(value, torch.Tensor) and value.shape == weight.shape:
                        value.view(-1)[touched.to(value.device)] = 0
            self._ever[name].view(-1)[regrown] = True
            module.weight_mask.copy_(mask.to(module.weight_mask.dtype))
            module.weight = weight * module.weight_mask

    def _log(self, fraction: float, changes: Mapping[str, LayerChange]) -> None:
        epoch = self._step / self.steps_per_epoch if self.steps_per_epoch else 0.0
        for name in self.names:
            change = changes.get(name)
            mask = self._masks[name]
            self._rows.append({
                "update": self._update,
                "epoch": epoch,
                "step": self._step,
                "layer": name,
                "active": int(mask.sum()),
                "dropped": 0 if change is None else int(change.dropped.numel()),
                "regrown": 0 if change is None else int(change.regrown.numel()),
                "regrown_random": 0 if change is None else int(change.regrown_random),
                "itop": int(self._ever[name].sum()) / mask.numel(),
                "drop_fraction": float(fraction),
            })

    def _record(self) -> None:
        epoch = self._step / self.steps_per_epoch if self.steps_per_epoch else 0.0
        self._recorded.append({
            "update": self._update,
            "epoch": epoch,
            "step": self._step,
            "packed": {n: torch.from_numpy(np.packbits(m.detach().cpu().numpy().reshape(-1))) for n, m in self._masks.items()},
            "shapes": {n: list(m.shape) for n, m in self._masks.items()},
        })

    def __repr__(self) -> str:
        return (
            f"DynamicSparsity(method={self.method.name!r}, drop_fraction={self.drop_fraction}, schedule={self.schedule!r}, "
            f"update_every={self.update_every} {self.update_unit}(s), stop_at={self.stop_at}, updates={self._update}, "
            f"itop_rate={self.itop_rate:.4f})"
        )
