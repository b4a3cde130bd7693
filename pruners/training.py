"""Sparse training with masks enforced after every step (the paper's recipe by default).

:func:`train` runs SGD with momentum and a step learning-rate schedule on a masked model:

* masks are installed as ``torch.nn.utils.prune`` buffers (the forward pass uses
  ``weight_orig * weight_mask``) and after every optimiser step the raw weights at pruned
  positions are set to exactly zero, so pruned weights stay zero in every sense;
* on CUDA it uses automatic mixed precision (float16 autocast with a gradient scaler) by
  default, on CPU plain float32;
* with ``checkpoint=PATH`` the model, masks, optimiser, scheduler and RNG states are saved
  atomically after every epoch; ``resume=True`` continues from that file; the final
  checkpoint holds the test accuracy in ``meta["accuracy"]`` (a fraction in [0, 1]).

The paper's recipe (Appendix A, after Wang et al. 2020, Tanaka et al. 2020, Liu et al.
2022), returned by :func:`recipe`:

=============  ======  ===  ========  =========================  ============  =====
data set       epochs  lr   momentum  lr / 10 at epochs          weight decay  batch
=============  ======  ===  ========  =========================  ============  =====
CIFAR-10/100   160     0.1  0.9       80, 120                    1e-4 (5e-4    128
                                                                 for WRN-28-2)
Tiny-ImageNet  100     0.1  0.9       30, 60, 80                 same          128
=============  ======  ===  ========  =========================  ============  =====

Other data sets (digits, synthetic) use the CIFAR recipe.  With a different number of
epochs the milestones are scaled proportionally (``round(m * epochs / default_epochs)``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from topocore import names
from topocore.errors import InputError
from topocore.masks import validate_masks
from topocore.random import seed_of, seeded

from .checkpoint import _read_payload, save_checkpoint
from .data.base import make_loader
from .masks import apply_masks, enforce_masks, masks_from_model, remove_masks
from .models import canonical_model

__all__ = ["recipe", "scaled_milestones", "train", "evaluate", "TrainResult", "resolve_device"]


def recipe(dataset: str | None, arch: str | None = None) -> dict[str, Any]:
    """The paper's training hyper-parameters for ``dataset`` and ``arch`` (see the module docstring)."""
    key = names.canonical_dataset(dataset, strict=False) if dataset is not None else None
    wd = 5e-4 if arch is not None and canonical_model(arch) == "wrn28_2" else 1e-4
    if key == "tinyimagenet":
        return {"epochs": 100, "lr": 0.1, "momentum": 0.9, "weight_decay": wd, "milestones": [30, 60, 80], "gamma": 0.1, "batch_size": 128}
    return {"epochs": 160, "lr": 0.1, "momentum": 0.9, "weight_decay": wd, "milestones": [80, 120], "gamma": 0.1, "batch_size": 128}


def scaled_milestones(milestones: list[int], default_epochs: int, epochs: int) -> list[int]:
    """Milestones of a ``default_epochs`` schedule rescaled to ``epochs`` (distinct, within ``[1, epochs)``)."""
    out = sorted({min(max(1, int(round(m * epochs / default_epochs))), max(1, epochs - 1)) for m in milestones})
    return [m for m in out if m < epochs] if epochs > 1 else []


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but CUDA is not available; use device='cpu'")
    return device


@dataclass
class TrainResult:
    """Outcome of :func:`train`: final test accuracy (fraction, NaN without test data) and per-epoch history.

    ``dst`` is the :class:`pruners.dst.DynamicSparsity` of a dynamic-sparse run (its final
    masks, history and ITOP rate), ``None`` otherwise.
    """

    accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    amp: bool = False
    resumed_from: int = 0
    dst: Any = None


def _loader(data: Any, batch_size: int, shuffle: bool, num_workers: int, generator: torch.Generator | None, pin: bool):
    if isinstance(data, torch.utils.data.DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        data = torch.utils.data.TensorDataset(data[0], data[1])
    if not isinstance(data, torch.utils.data.Dataset):
        raise InputError(
            f"training data must be a Dataset, a DataLoader or an (inputs, labels) pair, got {type(data).__name__}; "
            "pass one of those"
        )
    return make_loader(data, batch_size, shuffle=shuffle, num_workers=num_workers, generator=generator, pin_memory=pin)


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, *, device: str | torch.device | None = None, batch_size: int = 256, amp: bool | None = None) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` on ``data`` in eval mode (the mode is restored)."""
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    amp = (device.type == "cuda") if amp is None else amp
    loader = _loader(data, batch_size, False, 0, None, device.type == "cuda")
    was = model.training
    model.eval()
    correct = total = 0
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
            out = model(x)
        correct += int((out.argmax(1) == y).sum())
        total += int(y.numel())
    model.train(was)
    if total == 0:
        raise InputError("test data is empty; pass a non-empty test set")
    return correct / total


def _load_effective(model: nn.Module, state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> None:
    remove_masks(model)
    model.load_state_dict(state)
    apply_masks(model, masks)


def train(
    model: nn.Module,
    masks: Mapping[str, torch.Tensor] | None,
    train_data: Any,
    test_data: Any = None,
    *,
    epochs: int,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    milestones: list[int] | None = None,
    gamma: float = 0.1,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    num_workers: int = 0,
    random_state: int | np.random.Generator | None = 0,
    checkpoint: str | os.PathLike | None = None,
    meta: Mapping[str, Any] | None = None,
    resume: bool = False,
    eval_every: int = 1,
    progress: bool | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    dst: Any = None,
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``model`` with ``masks`` enforced; return the final test accuracy and the history.

    Parameters
    ----------
    model : torch.nn.Module
        Modified in place (moved to ``device``, masks installed, trained).
    masks : dict or None
        ``{param_name: bool tensor}``; ``None`` uses the model's own mask buffers (dense
        where it has none).
    train_data, test_data : Dataset, DataLoader or (inputs, labels)
        A Dataset is loaded with ``batch_size`` and shuffled with a generator seeded by
        ``random_state``.  ``test_data=None`` skips evaluation (accuracy NaN).
    epochs, lr, momentum, weight_decay, milestones, gamma, batch_size :
        SGD with momentum; the learning rate is multiplied by ``gamma`` at every epoch in
        ``milestones`` (default: half and three quarters of ``epochs``, rounded down; none below 1).
    device : str or torch.device, optional
        Default CUDA when available, else CPU.
    amp : bool, optional
        Mixed precision (float16 autocast + gradient scaling); default on for CUDA.  Ignored
        on CPU.
    num_workers : int
        DataLoader worker processes (torch's name; 0 = the main process, the right choice on CPU).
    random_state : int, numpy.random.Generator or None
        Seeds the data order and augmentation (the caller's global RNG state is preserved);
        ``None`` or a Generator give one drawn seed (:func:`topocore.random.seed_of`).
    checkpoint : path, optional
        Saved after every epoch (atomically) with the optimiser state for ``resume``, and at
        the end with ``meta["accuracy"]`` and without the optimiser state.  Needs ``meta``
        describing the model (``arch``, ``num_classes``, ``input_shape``, see
        :func:`pruners.save_checkpoint`).
    resume : bool
        Continue from ``checkpoint`` when it holds an unfinished run (it must describe the
        same epochs; its stored weights, masks, optimiser and RNG states are used); a
        finished checkpoint returns its stored result at once.
    eval_every : int
        Evaluate on ``test_data`` every this many epochs (the last epoch always).
    on_epoch : callable, optional
        Called with each epoch's history record.
    dst : str, dict or pruners.dst.DynamicSparsity, optional
        Dynamic sparse training: a method name (``"set"``, ``"rigl"``, ...), a dict of
        :class:`~pruners.dst.DynamicSparsity` keyword arguments with ``"method"``, or an
        engine built on ``model`` (its current masks are the starting masks).  The engine
        gets this run's epochs, steps per epoch, optimiser and ``random_state``, is stepped
        after every optimiser step with the batch just trained on, and is returned in
        :attr:`TrainResult.dst`.  Epoch records gain ``itop`` and ``dst_updates``;
        checkpoints store the method and its options (``meta["dst"]``), its history
        (``meta["dst_history"]``, a dict of columns) and, while unfinished, its state.
    penalty : callable, optional
        ``penalty(model) -> scalar tensor`` added to the cross-entropy of every batch (e.g. a
        connectivity penalty of :mod:`pruners.connectivity`); the history then records the
        epoch's mean ``penalty`` next to ``train_loss`` (the cross-entropy alone).
    """
    random_state = seed_of(random_state)
    with seeded(random_state):
        return _train(model, masks, train_data, test_data, epochs=epochs, lr=lr, momentum=momentum,
                      weight_decay=weight_decay, milestones=milestones, gamma=gamma, batch_size=batch_size, device=device,
                      amp=amp, num_workers=num_workers, random_state=random_state, checkpoint=checkpoint, meta=meta,
                      resume=resume, eval_every=eval_every, progress=progress, on_epoch=on_epoch, dst=dst,
                      penalty=penalty)


def _train(model, masks, train_data, test_data, *, epochs, lr, momentum, weight_decay, milestones, gamma, batch_size,
           device, amp, num_workers, random_state, checkpoint, meta, resume, eval_every, progress, on_epoch, dst=None,
           penalty=None) -> TrainResult:
    epochs = int(epochs)
    if epochs < 1:
        raise InputError(f"epochs must be >= 1, got {epochs}")
    if checkpoint is not None and meta is None:
        raise InputError("checkpoint=... needs meta describing the model: pass meta with arch, num_classes, input_shape")
    device = resolve_device(device)
    use_amp = (device.type == "cuda") if amp is None else bool(amp) and device.type == "cuda"
    if milestones is None:  # a milestone at epoch 0 would divide the lr before the first step (epochs=1)
        milestones = [m for m in (int(epochs * 0.5), int(epochs * 0.75)) if m >= 1]
    milestones = sorted(int(m) for m in milestones)

    if dst is not None and hasattr(dst, "step"):  # an engine built on this model: its current masks are the starting masks
        if masks is not None and any(not torch.equal(dst.masks[n].cpu(), m.cpu()) for n, m in
                                     validate_masks(model, masks).items() if n in dst.masks):
            raise InputError("masks differ from the masks of the DynamicSparsity given as dst; pass masks=None to use its own")
        masks = dst.masks
    masks = validate_masks(model, masks if masks is not None else masks_from_model(model), missing="dense", device=None)
    model.to(device)
    masks = {n: m.to(device) for n, m in masks.items()}
    apply_masks(model, masks)
    enforce_masks(model)

    generator = torch.Generator().manual_seed(int(random_state))
    start_epoch = 0
    history: list[dict[str, Any]] = []
    state_to_restore = None
    ck_path = Path(checkpoint) if checkpoint is not None else None
    if resume and ck_path is not None and ck_path.exists():
        payload = _read_payload(ck_path, device)
        stored_meta = payload["meta"]
        tstate = payload.get("training_state")
        if tstate is None and stored_meta.get("trained_epochs") == epochs and stored_meta.get("accuracy") is not None:
            _load_effective(model, payload["state_dict"], payload["masks"])
            return TrainResult(
                accuracy=float(stored_meta["accuracy"]), history=list(stored_meta.get("history") or []), epochs=epochs,
                seconds=float(stored_meta.get("train_seconds") or 0.0), device=str(device), amp=use_amp, resumed_from=epochs,
            )
        if tstate is not None:
            if int(tstate.get("epochs", -1)) != epochs:
                raise InputError(
                    f"{ck_path} holds a run planned for {tstate.get('epochs')} epochs, not {epochs}; "
                    "resume with the same --epochs or start a new checkpoint"
                )
            masks = validate_masks(model, payload["masks"], missing="dense", device=None)
            masks = {n: m.to(device) for n, m in masks.items()}
            _load_effective(model, payload["state_dict"], masks)
            start_epoch = int(tstate["epoch"])
            history = list(tstate.get("history") or [])
            state_to_restore = tstate

    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=gamma)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    if state_to_restore is not None:
        optimizer.load_state_dict(state_to_restore["optimizer"])
        scheduler.load_state_dict(state_to_restore["scheduler"])
        if use_amp and state_to_restore.get("scaler"):
            scaler.load_state_dict(state_to_restore["scaler"])
        generator.set_state(state_to_restore["generator"])
        torch.set_rng_state(state_to_restore["torch_rng"])

    train_loader = _loader(train_data, batch_size, True, num_workers, generator, device.type == "cuda")
    ds = _dynamic_sparsity(dst, model, masks, optimizer, epochs, len(train_loader), random_state, train_data, state_to_restore)
    base_meta = dict(meta or {})
    base_meta.update({"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "milestones": list(milestones),
                      "gamma": gamma, "batch_size": batch_size, "epochs": epochs, "device": str(device), "amp": use_amp})
    disable = None if progress is None else not progress
    t0 = time.perf_counter()
    elapsed_before = float(history[-1].get("elapsed", 0.0)) if history else 0.0
    accuracy = float("nan")
    epoch_bar = tqdm(range(start_epoch, epochs), desc="epochs", disable=disable, initial=start_epoch, total=epochs)
    for epoch in epoch_bar:
        model.train()
        t_epoch = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct_sum = torch.zeros((), dtype=torch.int64, device=device)
        penalty_sum = torch.zeros((), dtype=torch.float64, device=device)
        seen = 0
        for x, y in tqdm(train_loader, desc=f"epoch {epoch + 1}", disable=disable, leave=False):
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                out = model(x)
                loss = F.cross_entropy(out, y)
                extra = penalty(model) if penalty is not None else None
            scaler.scale(loss if extra is None else loss + extra).backward()
            scaler.step(optimizer)
            scale = scaler.get_scale() if use_amp else None
            scaler.update()
            enforce_masks(model)
            if ds is not None:
                ds.step(batch=(x, y), grad_scale=scale)
            loss_sum += loss.detach().double() * y.numel()
            if extra is not None:
                penalty_sum += extra.detach().double() * y.numel()
            correct_sum += (out.detach().argmax(1) == y).sum()
            seen += int(y.numel())
        lr_now = optimizer.param_groups[0]["lr"]
        scheduler.step()
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": lr_now,
            "train_loss": float(loss_sum) / max(seen, 1),
            "train_accuracy": int(correct_sum) / max(seen, 1),
            "test_accuracy": None,
            "seconds": time.perf_counter() - t_epoch,
        }
        if ds is not None:
            masks = ds.masks
            record.update({"itop": ds.itop_rate, "dst_updates": ds.update_count})
            base_meta["dst"] = ds.describe()
        if penalty is not None:
            record["penalty"] = float(penalty_sum) / max(seen, 1)
        last = epoch + 1 == epochs
        if test_data is not None and (last or (eval_every > 0 and (epoch + 1) % eval_every == 0)):
            record["test_accuracy"] = evaluate(model, test_data, device=device, batch_size=max(batch_size, 256), amp=use_amp)
            accuracy = record["test_accuracy"]
        record["elapsed"] = elapsed_before + time.perf_counter() - t0
        history.append(record)
        epoch_bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=record["test_accuracy"])
        if on_epoch is not None:
            on_epoch(record)
        if ck_path is not None and not last:
            tstate = {
                "epoch": epoch + 1,
                "epochs": epochs,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if use_amp else {},
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
            }
            if ds is not None:
                tstate["dst"] = ds.state_dict()
            save_checkpoint(ck_path, model, masks, {**base_meta, "trained_epochs": epoch + 1, "accuracy": None, "history": history},
                            training_state=tstate)
    seconds = elapsed_before + time.perf_counter() - t0
    if ck_path is not None:
        acc = None if math.isnan(accuracy) else accuracy
        extra = {"dst_history": ds.history_records()} if ds is not None else {}
        save_checkpoint(ck_path, model, masks, {**base_meta, "trained_epochs": epochs, "accuracy": acc, "history": history,
                                                "train_seconds": round(seconds, 3), **extra})
    return TrainResult(accuracy=accuracy, history=history, epochs=epochs, seconds=seconds, device=str(device), amp=use_amp,
                       resumed_from=start_epoch, dst=ds)


def _dynamic_sparsity(dst, model, masks, optimizer, epochs, steps_per_epoch, random_state, train_data, tstate):
    """The :class:`pruners.dst.DynamicSparsity` of ``train(..., dst=...)`` (None without ``dst``), resumed from ``tstate``."""
    saved = (tstate or {}).get("dst")
    if dst is None:
        if saved is not None:
            raise InputError(f"the checkpoint was trained with dynamic sparse training ({saved['config']['method']}); "
                             "resume it with the same dst (CLI: the same --dst)")
        return None
    from .dst import DynamicSparsity

    if isinstance(dst, DynamicSparsity):
        if dst.model is not model:
            raise InputError("dst is a DynamicSparsity of another model; build it on the model you train")
        ds = dst.bind(epochs=epochs, steps_per_epoch=steps_per_epoch).to(next(iter(masks.values())).device)
        if ds.optimizer is None:
            ds.optimizer = optimizer
    else:
        ds = DynamicSparsity.from_spec(dst, model, masks, epochs=epochs, steps_per_epoch=steps_per_epoch, optimizer=optimizer,
                                       random_state=random_state, input_shape=getattr(train_data, "input_shape", None))
    if tstate is not None:
        if saved is None:
            raise InputError("the checkpoint was trained without dynamic sparse training; resume it without dst (CLI: --dst)")
        ds.load_state_dict(saved)
    return ds
