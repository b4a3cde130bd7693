"""Checkpoints of pruned zoo models: weights, masks and metadata in one ``torch.save`` file.

A checkpoint is a plain dictionary (loadable with ``torch.load(..., weights_only=True)``,
so opening one cannot execute code)::

    {
        "format": "pruners.checkpoint",
        "format_version": 1,
        "state_dict": {...},      # effective weights: pruned entries are exactly zero
        "masks": {"conv1.weight": BoolTensor, ...},   # one per prunable parameter
        "meta": {...},            # see below
        "training_state": {...},  # only while training is unfinished (for --resume)
    }

``meta`` always holds ``arch`` (a zoo name or a ``"package.module:factory"`` model spec), ``num_classes``, ``input_shape`` (list), ``model_kwargs``
(dict, e.g. ``{"shortcut": "A"}``), ``method``, ``sparsity`` (target), ``achieved_sparsity``,
``seed``, ``dataset``, ``accuracy`` and ``dense_accuracy`` (fractions in [0, 1] or
``None``), ``version`` (of the installed ``topometrics`` distribution) and ``created``
(UTC ISO time); callers may add more keys holding plain Python values.

:func:`load_checkpoint` rebuilds the model from ``meta`` with :func:`pruners.models.get_model`,
loads the weights and installs the masks as ``torch.nn.utils.prune`` buffers.  A model
spec is imported and called only when the caller trusts it (``trusted=``): a file must
not be able to make the loader run code it names.  Masks are checked by
:func:`topocore.masks.validate_masks`; files are written atomically by
:func:`topocore.io.atomic_write`.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import pickle
import warnings
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
import torch.nn as nn

from topocore.errors import CheckpointError, DataNotFoundError, InputError, MaskError, brief
from topocore.io import atomic_write
from topocore.masks import validate_masks

from .masks import apply_masks, effective_state_dict, masks_from_model, sparsity_of
from .models import canonical_model, get_model, is_spec

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint", "library_version", "FORMAT", "FORMAT_VERSION"]

FORMAT = "pruners.checkpoint"
FORMAT_VERSION = 1
_REQUIRED_META = ("arch", "num_classes", "input_shape")
_DEFAULT_META: dict[str, Any] = {
    "model_kwargs": {},
    "method": None,
    "sparsity": None,
    "seed": None,
    "dataset": None,
    "accuracy": None,
    "dense_accuracy": None,
}

# ``CheckpointError`` is topocore.errors.CheckpointError, re-exported here.


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : torch.nn.Module
        The zoo model rebuilt from ``meta``, weights loaded, masks installed as
        ``torch.nn.utils.prune`` buffers, in eval mode, on the requested device.
    masks : dict[str, torch.BoolTensor]
        ``{param_name: mask}`` for every prunable parameter (``True`` = kept).
    meta : dict
        Metadata (see the module docstring).
    path : pathlib.Path or None
        The file it was read from.
    training_state : dict or None
        Optimiser/scheduler state of an unfinished training run (used by ``--resume``).
    """

    model: nn.Module
    masks: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path | None = None
    training_state: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def sparsity(self) -> float:
        """Achieved global sparsity of the masks."""
        return sparsity_of(self.masks)


def library_version() -> str:
    """Version of the installed ``topometrics`` distribution (``"unknown"`` when not installed)."""
    try:
        return _metadata.version("topometrics")
    except _metadata.PackageNotFoundError:
        return "unknown"


def _check_plain(value: Any, where: str) -> Any:
    """Return ``value`` converted to plain Python containers/scalars, or raise :class:`InputError`."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _check_plain(value.item(), where)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"checkpoint metadata keys must be strings, got {k!r} in {where}; use str keys")
            out[k] = _check_plain(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_check_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise InputError(
        f"checkpoint metadata {where} has a {type(value).__name__}; only str, int, float, bool, None, "
        "lists and dicts of them can be stored (convert it, e.g. with .tolist())"
    )


def _atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save(obj)`` to ``path`` through :func:`topocore.io.atomic_write`."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    masks: Mapping[str, torch.Tensor] | None,
    meta: Mapping[str, Any],
    *,
    training_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights, ``masks`` and ``meta`` to ``path`` atomically; return the path.

    Parameters
    ----------
    path : path-like
        Destination file (parent folders are created).  The file is written to a
        temporary name and renamed, so an interrupted save never leaves a truncated file.
    model : torch.nn.Module
        A zoo model or the model of a ``"package.module:factory"`` spec, with or without
        ``torch.nn.utils.prune`` buffers.
    masks : dict or None
        ``{param_name: bool tensor}`` (buffer names ``"...weight_mask"`` accepted).
        ``None`` reads the masks from the model's buffers (all-True where none).
        Explicit masks override the model's buffers.  The stored weights are the
        effective ones (raw weight times mask), so pruned entries are exactly zero.
    meta : dict
        Must contain ``arch`` (a zoo name or model spec), ``num_classes`` and ``input_shape`` so that
        :func:`load_checkpoint` can rebuild the model; see the module docstring for the
        other keys.  Values must be plain Python data (str, int, float, bool, None,
        lists, dicts).  ``version``, ``achieved_sparsity`` and ``created`` are filled in.
    training_state : dict, optional
        Optimiser state etc. for resuming training (tensors and plain data only).
    """
    if not isinstance(meta, Mapping):
        raise InputError(f"meta must be a dict, got {type(meta).__name__}; pass a dict with arch, num_classes, input_shape")
    missing = [k for k in _REQUIRED_META if meta.get(k) is None]
    if missing:
        raise InputError(
            f"checkpoint metadata lacks {missing}: pass meta with 'arch' (a zoo name or 'package.module:factory'), "
            "'num_classes' and 'input_shape' so the model can be rebuilt when loading"
        )
    full = dict(_DEFAULT_META)
    full.update(_check_plain(dict(meta), "meta"))
    full["arch"] = canonical_model(full["arch"])
    full["num_classes"] = int(full["num_classes"])
    full["input_shape"] = [int(s) for s in full["input_shape"]]
    if full["model_kwargs"] is None:
        full["model_kwargs"] = {}
    for key in ("accuracy", "dense_accuracy"):
        acc = full.get(key)
        if acc is not None and not (isinstance(acc, (int, float)) and (math.isnan(acc) or 0.0 <= acc <= 1.0)):
            raise InputError(f"meta[{key!r}] must be a fraction in [0, 1] (not percent) or None, got {acc!r}")

    if masks is None:
        masks = masks_from_model(model)
    masks = validate_masks(model, masks, missing="dense", device=None)
    state = effective_state_dict(model)
    for name, mask in masks.items():
        state[name] = state[name] * mask.to(state[name].dtype)
    full["achieved_sparsity"] = sparsity_of(masks)
    full["version"] = library_version()
    full["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in state.items()},
        "masks": {k: v.detach().cpu() for k, v in masks.items()},
        "meta": full,
    }
    if training_state is not None:
        payload["training_state"] = dict(training_state)
    out = Path(path)
    _atomic_torch_save(payload, out)
    return out


def refused_pickle(path: str | os.PathLike, exc: BaseException) -> CheckpointError:
    """The error for a file that ``torch.load(weights_only=True)`` refused: it holds arbitrary Python objects."""
    import re

    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    what = f" (the first: {found.group(1)})" if found else ""
    return CheckpointError(
        f"{str(path)!r} is not a pruners checkpoint: it holds Python objects{what} that the safe weights_only "
        "loading refuses, because loading them could run code; it was not opened. Create checkpoints with "
        "pruners.save_checkpoint or `topometrics prune` (they hold only tensors and plain data)."
    )


def _read_payload(path: Path, map_location: Any) -> dict[str, Any]:
    if not path.exists():
        raise DataNotFoundError(f"checkpoint {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a folder, not a checkpoint file; name a .pt file inside it")
    try:
        with warnings.catch_warnings():
            # torch warns about foreign pickle protocols before refusing them; the error below says it all
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise refused_pickle(path, exc) from None
    except Exception as exc:  # torch.load raises many types (KeyError, RuntimeError, EOFError...) on garbage
        raise CheckpointError(
            f"{str(path)!r} is corrupt or not a torch checkpoint ({type(exc).__name__}: {brief(exc)}). Re-create it with "
            "pruners.save_checkpoint or `topometrics prune`."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        kind = type(payload).__name__
        hint = ""
        if isinstance(payload, dict):
            keys = list(payload)[:5]
            hint = f" with keys {keys}"
        raise CheckpointError(
            f"{str(path)!r} is a torch file ({kind}{hint}) but not a pruners checkpoint (no "
            f"format={FORMAT!r} marker). Create checkpoints with pruners.save_checkpoint or `topometrics prune`."
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {version!r}; this library reads versions "
            f"<= {FORMAT_VERSION}. Upgrade topometrics."
        )
    for key in ("state_dict", "masks", "meta"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(
                f"{str(path)!r} is an incomplete pruners checkpoint: {key!r} is missing; re-create it with "
                "pruners.save_checkpoint or `topometrics prune`"
            )
    return payload


def _is_trusted(spec: str, trusted: bool | str | Iterable[str]) -> bool:
    if trusted is True:
        return True
    if not trusted:
        return False
    listed = [trusted] if isinstance(trusted, str) else list(trusted)
    try:
        wanted = canonical_model(spec)
    except InputError:  # a malformed spec in the file is trusted by nobody
        return False
    return any(is_spec(t) and canonical_model(t) == wanted for t in listed)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    map_location: str | torch.device = "cpu",
    install_masks: bool = True,
    trusted: bool | str | Iterable[str] = (),
    missing_masks: str = "error",
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : path-like
        The checkpoint file.
    map_location : str or torch.device
        Device the tensors and the model are placed on (default CPU).
    install_masks : bool
        Install the masks as ``torch.nn.utils.prune`` buffers on ``.model`` (default).
        With ``False`` the model holds plain (already masked) weights.
    trusted : bool, str or iterable of str
        Model specs (``"package.module:factory"``) that may be imported and called to
        rebuild the model, or ``True`` for any.  Zoo models need no trust; a checkpoint
        whose ``arch`` is a spec not trusted here is refused with a
        :class:`~topocore.errors.CheckpointError` saying how to trust it (loading a file
        must not run code the file names).
    missing_masks : {"error", "dense"}
        A prunable layer without a stored mask: refused with a
        :class:`~topocore.errors.CheckpointError` naming the layer (default), or
        treated as dense (all weights kept) when the caller says so.  Checkpoints
        written by :func:`save_checkpoint` hold a mask for every prunable layer.

    Raises
    ------
    topocore.errors.DataNotFoundError
        When the file does not exist (also a ``FileNotFoundError``).
    topocore.errors.CheckpointError
        When the file is corrupt, truncated, not a pruners checkpoint, its model spec is
        not trusted, or its weights or masks do not fit the model described by its metadata.
    """
    p = Path(path)
    payload = _read_payload(p, map_location)
    meta = dict(payload["meta"])
    missing = [k for k in _REQUIRED_META if meta.get(k) is None]
    if missing:
        raise CheckpointError(
            f"{str(p)!r} has metadata without {missing}; the model cannot be rebuilt (re-create the checkpoint with "
            "pruners.save_checkpoint)"
        )
    arch = meta["arch"]
    if is_spec(arch) and not _is_trusted(arch, trusted):
        raise CheckpointError(
            f"{str(p)!r} holds a model built by the factory {arch!r}; rebuilding it imports and calls that code, so "
            f"pass trusted={arch!r} (or trusted=True) if you trust this file"
        )
    try:
        model = get_model(
            meta["arch"], int(meta["num_classes"]), tuple(meta["input_shape"]), **dict(meta.get("model_kwargs") or {})
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{str(p)!r}: cannot rebuild model {arch!r} from its metadata: {exc}") from None
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{str(p)!r}: weights do not fit {meta['arch']!r} with num_classes={meta['num_classes']} and "
            f"input_shape={meta['input_shape']}: {brief(exc, 300)}"
        ) from None
    model.to(map_location)
    if missing_masks not in ("error", "dense"):
        raise InputError(f"missing_masks must be 'error' or 'dense', got {missing_masks!r}")
    try:
        validate_masks(model, payload["masks"], missing="error", device=None)
    except MaskError as exc:
        if "no mask for" not in str(exc):
            raise CheckpointError(f"{str(p)!r}: stored masks do not fit the model ({exc})") from None
        if missing_masks == "error":
            layers = str(exc).split("no mask for the prunable layer(s) ", 1)[-1].split(";", 1)[0]
            raise CheckpointError(
                f"{str(p)!r} has no mask for the prunable layer(s) {layers}; re-create it with pruners.save_checkpoint, "
                "or treat those layers as dense explicitly (CLI: --missing-masks dense; Python: missing_masks='dense')"
            ) from None
    masks = validate_masks(model, payload["masks"], missing="dense", device=None)
    if install_masks:
        apply_masks(model, masks)
    model.eval()
    return Checkpoint(model=model, masks=masks, meta=meta, path=p, training_state=payload.get("training_state"))
