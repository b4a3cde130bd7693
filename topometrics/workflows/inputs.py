"""One input -> one :class:`Network`: checkpoints, state dicts, saved graphs, in-memory models.

:func:`load_network` accepts

* the path of a checkpoint written by :func:`pruners.save_checkpoint` /
  ``topometrics prune`` (its metadata give the model, input shape and table columns);
* the path of a graph saved by :meth:`encoders.MultipartiteGraph.save` (``.npz``);
* the path of a plain ``torch.save``-d state dict of the model named by ``arch``
  (a zoo name or a ``"package.module:factory"`` spec), optionally
  ``{"state_dict": ..., "masks": ...}`` or with ``*_orig`` / ``*_mask`` entries of
  :mod:`torch.nn.utils.prune`;
* a :class:`~encoders.graph.MultipartiteGraph`, a :class:`pruners.Checkpoint`, a
  ``torch.nn.Module`` (masks from its prune buffers, else its exact zeros), or a
  ``(model, masks)`` / ``(model, masks, meta)`` tuple.

Every problem a user can fix raises a :class:`topocore.errors.TopometricsError`
subclass naming the fix (a missing file: :class:`~topocore.errors.DataNotFoundError`;
an unreadable or untrusted checkpoint: :class:`~topocore.errors.CheckpointError`;
a missing or wrong model: :class:`~topocore.errors.InputError`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from topocore.errors import CheckpointError, DataNotFoundError, InputError, brief

__all__ = ["Network", "load_network", "load_state_dict_model", "DEFAULT_INPUT_SHAPE", "DEFAULT_NUM_CLASSES"]

#: Input shape assumed for a plain state dict when none is given (the zoo's CIFAR shape).
DEFAULT_INPUT_SHAPE = (3, 32, 32)
#: Classifier outputs assumed for a plain state dict when none are given.
DEFAULT_NUM_CLASSES = 10
#: Checkpoint metadata that are bookkeeping, not table columns.
SKIP_META = frozenset({"training_state", "format", "format_version", "history", "layer_densities"})


@dataclass
class Network:
    """One network to measure: a model with masks, or an already encoded graph.

    Attributes
    ----------
    model : torch.nn.Module or None
        The network (None for a saved graph).
    masks : dict or None
        ``{param_name: bool tensor}`` (None: the model's prune buffers, else its exact zeros).
    graph : MultipartiteGraph or None
        The encoded graph of a ``.npz`` input (None for models).
    input_shape : tuple of int or None
        Shape of one input sample.
    meta : dict
        Metadata of the input (checkpoint ``meta``, graph ``meta`` or the caller's),
        without bookkeeping entries.
    source : str or None
        The path as given, for inputs read from a file.
    """

    model: Any = None
    masks: Mapping[str, Any] | None = None
    graph: Any = None
    input_shape: tuple[int, ...] | None = None
    meta: dict = field(default_factory=dict)
    source: str | None = None


def _trusted(arch: str | None, trusted: bool | str | Iterable[str]) -> bool | list[str]:
    """``trusted`` plus the model spec ``arch`` (naming a spec is trusting it)."""
    if trusted is True:
        return True
    listed = [] if not trusted else ([trusted] if isinstance(trusted, str) else list(trusted))
    if arch:
        from pruners.models import is_spec  # imports torch: only when a model is named

        if is_spec(arch):
            listed.append(arch)
    return listed


def load_network(
    item: Any,
    *,
    input_shape: Sequence[int] | None = None,
    arch: str | None = None,
    num_classes: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    trusted: bool | str | Iterable[str] = (),
    missing_masks: str = "error",
) -> Network:
    """Read or wrap one input (see the module docstring) as a :class:`Network`.

    Parameters
    ----------
    item : path, MultipartiteGraph, Checkpoint, torch.nn.Module, tuple or Network
        The input (a :class:`Network` is returned as it is).
    input_shape : tuple of int, optional
        Input shape; overrides the one a checkpoint or graph records.  Models without
        a recorded shape need it; plain state dicts default to ``(3, 32, 32)``.
    arch : str, optional
        Zoo name or ``"package.module:factory"`` spec of the model of a plain state
        dict; a spec named here is also trusted for checkpoints (see ``trusted``).
    num_classes : int, optional
        Classifier outputs of ``arch`` for a plain state dict (default 10).
    model_kwargs : dict, optional
        Options of ``arch`` (``{"shortcut": "A"}``) for a plain state dict.
    trusted : bool, str or iterable of str
        Model specs a checkpoint may name to be rebuilt (importing and calling that
        code), as in :func:`pruners.load_checkpoint`.
    missing_masks : {"error", "dense"}
        A checkpoint or state dict that carries masks but none for some prunable
        layer: refused naming the layer (default), or those layers taken as dense.

    Returns
    -------
    Network
    """
    from encoders.graph import MultipartiteGraph

    shape = None if input_shape is None else tuple(int(s) for s in input_shape)
    if isinstance(item, Network):
        return item if shape is None else Network(item.model, item.masks, item.graph, shape, item.meta, item.source)
    if isinstance(item, (str, os.PathLike)):
        if missing_masks not in ("error", "dense"):
            raise InputError(f"missing_masks must be 'error' or 'dense', got {missing_masks!r}")
        return _load_path(Path(item), str(item), shape, arch, num_classes, model_kwargs, _trusted(arch, trusted),
                          missing_masks)
    if isinstance(item, MultipartiteGraph):
        meta = _clean(item.meta)
        return Network(graph=item, input_shape=shape or _shape(meta.get("input_shape")), meta=meta)
    # torch only from here on: saved graphs are measured without importing it (about 2 s per process)
    import torch.nn as nn

    from pruners import Checkpoint

    if isinstance(item, Checkpoint):
        meta = _clean(item.meta)
        path = None if item.path is None else str(item.path)
        return Network(item.model, item.masks, None, shape or _shape(meta.get("input_shape")), meta, path)
    if isinstance(item, nn.Module):
        item = (item, None)
    if isinstance(item, tuple) and len(item) in (2, 3) and isinstance(item[0], nn.Module):
        meta = _clean(item[2]) if len(item) == 3 and item[2] is not None else {}
        if len(item) == 3 and not isinstance(item[2], (Mapping, type(None))):
            raise InputError(f"the third entry of a (model, masks, meta) item must be a dict, got {type(item[2]).__name__}")
        return Network(item[0], item[1], None, shape or _shape(meta.get("input_shape")), meta)
    raise InputError(
        f"cannot measure a {type(item).__name__}; give a checkpoint or graph path, a MultipartiteGraph, a "
        "pruners Checkpoint, a torch.nn.Module or a (model, masks) pair"
    )


def _shape(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [p for p in value.replace("x", ",").split(",") if p.strip()]
    return tuple(int(s) for s in value)


def _clean(meta: Mapping[str, Any] | None) -> dict:
    return {k: v for k, v in dict(meta or {}).items() if k not in SKIP_META}


def _load_path(p: Path, given: str, shape, arch, num_classes, model_kwargs, trusted, missing_masks="error") -> Network:
    if not p.is_file():
        if p.is_dir():
            raise InputError(f"{given} is a folder; give a checkpoint, state dict or saved graph file inside it")
        raise DataNotFoundError(f"{given} does not exist; check the path")
    if p.suffix == ".npz":
        from encoders.graph import MultipartiteGraph

        graph = MultipartiteGraph.load(p)
        meta = _clean(graph.meta)
        return Network(graph=graph, input_shape=shape or _shape(meta.get("input_shape")), meta=meta, source=given)
    from pruners import load_checkpoint

    try:
        ck = load_checkpoint(p, trusted=trusted, missing_masks=missing_masks)
    except CheckpointError as exc:
        if "not a pruners checkpoint" not in str(exc):
            raise
    else:
        meta = _clean(ck.meta)
        return Network(ck.model, ck.masks, None, shape or _shape(meta.get("input_shape")), meta, given)
    shape = shape or DEFAULT_INPUT_SHAPE
    model, masks, meta = load_state_dict_model(
        p, arch, shape, num_classes=num_classes, model_kwargs=model_kwargs,
        accepted="neither a pruners checkpoint, a saved graph (.npz) nor a torch state dict",
    )
    if masks and missing_masks == "error":
        from topocore.masks import prunable_names

        absent = [n for n in prunable_names(model) if n not in masks and f"{n}_mask" not in masks]
        if absent:
            shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            raise CheckpointError(
                f"{given} carries masks but none for the prunable layer(s) {shown}; add them, or treat those layers "
                "as dense explicitly (CLI: --missing-masks dense; Python: missing_masks='dense')"
            )
    return Network(model, masks, None, shape, meta, given)


def load_state_dict_model(
    path: str | os.PathLike,
    arch: str | None,
    input_shape: Sequence[int],
    *,
    num_classes: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    accepted: str = "neither a pruners checkpoint nor a torch state dict",
):
    """Rebuild the model ``arch`` from a plain state dict file: ``(model, masks, meta)``.

    Accepts a dict of tensors, ``{"state_dict": ..., "masks": ...}``, or the
    ``torch.nn.utils.prune`` layout (``x.weight_orig`` + ``x.weight_mask``; the mask
    becomes ``masks["x.weight"]``).  ``arch`` is a zoo name or a model spec;
    ``num_classes`` defaults to 10.  Every failure is a
    :class:`~topocore.errors.TopometricsError` naming the fix; ``accepted`` ends the
    message for an unreadable file ("<path> is <accepted>").
    """
    import torch

    from pruners.models import build

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch.save: zip archive, or legacy pickle
        raise CheckpointError(f"{path} is {accepted}: it does not start like a torch.save file (zip or pickle); "
                              "is it truncated, or in another format?")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many exception types on foreign files
        import pickle

        if isinstance(exc, pickle.UnpicklingError):
            from pruners.checkpoint import refused_pickle

            raise refused_pickle(path, exc) from None
        raise CheckpointError(f"{path} is {accepted} ({type(exc).__name__}: {brief(exc)}); re-create it") from None
    masks = {}
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        masks = dict(payload.get("masks") or {})
        state = dict(payload["state_dict"])
    elif isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state = dict(payload)
    else:
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a state dict of tensors")
    if not arch:
        raise InputError(
            f"{path} is a plain state dict: pass --arch or --model (arch= in Python), and --num-classes, "
            "--shortcut, to build its model"
        )
    for key in [k for k in state if k.endswith("_orig")]:
        base = key[: -len("_orig")]
        if f"{base}_mask" in state:  # torch.nn.utils.prune layout
            mask = state.pop(f"{base}_mask").bool()
            state[base] = state.pop(key) * mask
            masks.setdefault(base, mask)
    num_classes = DEFAULT_NUM_CLASSES if num_classes is None else int(num_classes)
    kwargs = dict(model_kwargs or {})
    model = build(arch, num_classes, tuple(input_shape), **kwargs)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        options = "".join(f" {k}={v}" for k, v in kwargs.items())
        raise CheckpointError(
            f"{path} does not fit --arch {arch} with --num-classes {num_classes}{options}: "
            f"{brief(exc, 300)}"
        ) from None
    meta = {"arch": arch, "num_classes": num_classes, "input_shape": list(input_shape), "model_kwargs": kwargs}
    return model, masks, meta
