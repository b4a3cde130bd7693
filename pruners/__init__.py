"""Pruning at initialization, layer-wise random pruning, the CIFAR model zoo, data and sparse training.

This package depends on torch only; it never imports :mod:`encoders`,
:mod:`topometrics` or :mod:`analysis`.

Masks are ``{param_name: torch.BoolTensor}`` dictionaries keyed by the model's
parameter names (``"layer1.0.conv1.weight"``), ``True`` where a weight is kept;
:func:`apply_masks` installs them as ``torch.nn.utils.prune`` buffers and
:func:`masks_from_model` reads them back.
"""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .masks import apply_masks, copy_model, masks_from_model, prunable_names, remove_masks, sparsity_of
from .models import MODELS, canonical_name, get_model

__all__ = [
    "MODELS",
    "canonical_name",
    "get_model",
    "apply_masks",
    "masks_from_model",
    "prunable_names",
    "remove_masks",
    "copy_model",
    "sparsity_of",
    "Checkpoint",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
]

from .methods import METHODS, PruningMethod, method_options, prune  # noqa: E402

__all__ += ["METHODS", "PruningMethod", "method_options", "prune"]

from .training import TrainResult, evaluate, recipe, train  # noqa: E402

__all__ += ["TrainResult", "evaluate", "recipe", "train"]
