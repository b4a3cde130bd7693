"""Shared machinery of the pruning methods: the call context, scoring copies and data streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from topocore.errors import InputError

from ..masks import copy_model, prunable_layers, remove_masks

__all__ = ["Context", "PruningMethod", "scoring_copy", "prunable_weights", "DataStream", "model_device"]


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def scoring_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with any pruning re-parametrisation folded into plain weights.

    Methods score on this copy, so the caller's weights, BatchNorm running statistics and
    existing masks are never touched.
    """
    clone = copy_model(model)
    remove_masks(clone)
    for p in clone.parameters():
        p.requires_grad_(True)
        p.grad = None
    return clone


def prunable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{param_name: weight parameter}`` of a plain (un-re-parametrised) model."""
    return {name: module.weight for name, module in prunable_layers(model)}


@dataclass
class Context:
    """What :func:`pruners.prune` hands to a method besides the model and the kept count.

    Attributes
    ----------
    method : str
        Registry name (used in error messages).
    data : object or None
        The user's data (DataLoader, Dataset, ``(inputs, labels)`` tensors or arrays).
    input_shape : tuple or None
        ``(C, H, W)`` of one sample.
    generator : torch.Generator
        CPU generator seeded with ``random_state`` (the global torch RNG is also seeded,
        inside a forked RNG state, for methods that draw from it).
    progress : bool or None
        Show a tqdm bar for iterative methods (``None``: only on a terminal).
    sparsity : float or None
        The requested global sparsity (the published ``er`` aims its search at
        ``N * (1 - sparsity)`` rather than at the rounded ``n_keep``).
    """

    method: str
    data: Any = None
    input_shape: tuple[int, ...] | None = None
    generator: torch.Generator = field(default_factory=torch.Generator)
    progress: bool | None = None
    sparsity: float | None = None

    def require_data(self, what: str = "a few labelled batches") -> "DataStream":
        if self.data is None:
            raise InputError(
                f"pruning method {self.method!r} is data-dependent: pass data=... ({what}) as a "
                "torch DataLoader, a Dataset or an (inputs, labels) pair of tensors, e.g. "
                "data=pruners.data.get_dataset('cifar10', root, 'train')"
            )
        return DataStream(self.data, self.method)

    def require_input_shape(self) -> tuple[int, ...]:
        if self.input_shape is None:
            raise InputError(
                f"pruning method {self.method!r} feeds synthetic inputs: pass input_shape=(C, H, W), "
                "e.g. input_shape=(3, 32, 32)"
            )
        return tuple(int(s) for s in self.input_shape)

    def bar(self, iterable, desc: str):
        disable = None if self.progress is None else not self.progress
        return tqdm(iterable, desc=desc, disable=disable, leave=False)


def _unpack(batch: Any, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        x, y = batch[0], batch[1]
    elif isinstance(batch, dict) and {"image", "label"} <= set(batch):
        x, y = batch["image"], batch["label"]
    else:
        raise InputError(
            f"pruning method {method!r}: data must yield (inputs, labels) pairs, got {type(batch).__name__}; "
            "pass a DataLoader or Dataset of (inputs, labels), or an (inputs, labels) pair of tensors"
        )
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    if x.ndim == 0 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise InputError(
            f"pruning method {method!r}: a batch has inputs of shape {tuple(x.shape)} and labels of shape "
            f"{tuple(y.shape)}; expected (N, C, H, W) inputs and N integer labels"
        )
    return x, y.long()


def _is_array(obj: Any) -> bool:
    return isinstance(obj, (torch.Tensor, np.ndarray))


class DataStream:
    """Batches of exactly the requested size drawn from user data, cycling over passes.

    Accepts an ``(inputs, labels)`` pair of tensors/arrays (shuffled with the torch RNG at
    every pass), a map-style ``Dataset`` (wrapped in a shuffling ``DataLoader``) or any
    iterable of ``(inputs, labels)`` batches such as a ``DataLoader``.
    """

    def __init__(self, data: Any, method: str, chunk: int = 256) -> None:
        self.method = method
        self._source: Callable[[], Iterator[Any]]
        if isinstance(data, (tuple, list)) and len(data) == 2 and _is_array(data[0]) and _is_array(data[1]):
            x = torch.as_tensor(data[0])
            y = torch.as_tensor(data[1])
            if x.shape[0] != y.shape[0] or y.ndim != 1:
                raise InputError(
                    f"pruning method {method!r}: inputs ({tuple(x.shape)}) and labels ({tuple(y.shape)}) "
                    "must have the same first dimension and labels must be 1-D"
                )

            def tensors() -> Iterator[Any]:
                order = torch.randperm(x.shape[0])
                for start in range(0, x.shape[0], chunk):
                    idx = order[start : start + chunk]
                    yield x[idx], y[idx]

            self._source = tensors
        elif isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__") and hasattr(data, "__getitem__"):
            loader = torch.utils.data.DataLoader(data, batch_size=chunk, shuffle=True, num_workers=0)
            self._source = lambda: iter(loader)
        elif hasattr(data, "__iter__"):
            self._source = lambda: iter(data)
        else:
            raise InputError(
                f"pruning method {method!r}: data must be a DataLoader, a Dataset or an (inputs, labels) pair, "
                f"got {type(data).__name__}"
            )
        self._it: Iterator[Any] | None = None
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._pass_size: int | None = None  # samples in one full pass, once known
        self._seen_this_pass = 0

    def _pull(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Next raw batch, or ``None`` at the end of a pass."""
        if self._it is None:
            self._it = self._source()
            self._seen_this_pass = 0
        try:
            batch = next(self._it)
        except StopIteration:
            self._it = None
            if self._seen_this_pass == 0:
                raise InputError(f"pruning method {self.method!r}: the data yielded no samples; pass non-empty data") from None
            if self._pass_size is None:
                self._pass_size = self._seen_this_pass
            return None
        x, y = _unpack(batch, self.method)
        self._seen_this_pass += x.shape[0]
        return x, y

    def take(self, n: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``n`` samples (all of them when the data holds fewer than ``n``)."""
        xs: list[torch.Tensor] = []
        ys: list[torch.Tensor] = []
        got = 0

        def limit() -> int:
            return n if self._pass_size is None else min(n, self._pass_size)

        while got < limit():
            if self._pending:
                x, y = self._pending.pop(0)
            else:
                pulled = self._pull()
                if pulled is None:
                    continue
                x, y = pulled
            need = limit() - got
            if x.shape[0] > need:
                self._pending.insert(0, (x[need:], y[need:]))
                x, y = x[:need], y[:need]
            xs.append(x)
            ys.append(y)
            got += x.shape[0]
        x = torch.cat(xs).to(device=device, dtype=dtype)
        y = torch.cat(ys).to(device=device)
        return x, y

    def class_balanced(
        self, per_class: int, num_classes: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``per_class`` samples of every class, from one fresh pass over the data."""
        counts = [0] * num_classes
        xs: list[torch.Tensor] = []
        ys: list[torch.Tensor] = []
        self._it = None
        self._pending = []
        while True:
            pulled = self._pull()
            if pulled is None:
                break
            x, y = pulled
            for i in range(x.shape[0]):
                c = int(y[i])
                if not 0 <= c < num_classes:
                    raise InputError(
                        f"pruning method {self.method!r}: label {c} outside the model's {num_classes} classes; build the "
                        "model with num_classes covering every label of the data"
                    )
                if counts[c] < per_class:
                    counts[c] += 1
                    xs.append(x[i : i + 1])
                    ys.append(y[i : i + 1])
            if all(c >= per_class for c in counts):
                break
        self._it = None
        return torch.cat(xs).to(device=device, dtype=dtype), torch.cat(ys).to(device=device)


@dataclass(frozen=True)
class PruningMethod:
    """A registry entry of :data:`pruners.METHODS`.

    ``function(model, n_keep, ctx, **options)`` receives a scoring copy of the model (plain
    weights, on the model's device), the exact number of weights to keep and a
    :class:`Context`; it returns ``{param_name: bool mask}`` for every prunable weight.
    A method with ``exact_count=False`` (the published ``er``) defines its own per-layer
    counts, which only approximate ``n_keep``; :func:`pruners.prune` warns with the
    achieved sparsity.
    """

    name: str
    function: Callable[..., dict[str, torch.Tensor]]
    needs_data: bool
    needs_input_shape: bool
    summary: str
    exact_count: bool = True

    @property
    def doc(self) -> str:
        """Docstring of the method's module (score formula and reference)."""
        import sys

        return sys.modules[self.function.__module__].__doc__ or ""
