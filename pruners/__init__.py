"""Pruning at initialization, layer-wise random pruning, the CIFAR model zoo, data and sparse training.

This package depends on torch and :mod:`topocore` only; it never imports :mod:`encoders`,
:mod:`topometrics` or :mod:`analysis`.  Names (architectures, data sets, methods), the
mask validator, errors, atomic writes and ``random_state`` handling are topocore's.

* :func:`prune` and :data:`METHODS` -- masks from 11 methods (``snip``, ``grasp``,
  ``synflow``, ``prospr``, ``uniform``, ``er``, ``erk``, ``iter_snip``, ``ntksap``,
  ``magnitude``, ``random``) with exact global counts, see :mod:`pruners.methods`;
* :func:`build` -- a seeded zoo model or any model given as ``"package.module:factory"``,
  see :mod:`pruners.models`;
* :func:`save_checkpoint` / :func:`load_checkpoint` -- safe checkpoint files (weights, masks,
  metadata), see :mod:`pruners.checkpoint`;
* :mod:`pruners.data` -- CIFAR-10/100, Tiny-ImageNet (32x32), the MNIST family (IDX files), digits and
  synthetic data;
* :func:`train` -- sparse training with the paper's recipe, see :mod:`pruners.training`;
* :mod:`pruners.dst` -- dynamic sparse training (SET/RLR, RigL, SNFS, DSR, CH3-L3 regrowth):
  masks that evolve during training, ``train(..., dst=...)``;
* :mod:`pruners.connectivity` -- sparsity penalties on the edge gates of the zoo's ``dagnet``
  and the block graph they leave (``derive_topology``);
* :mod:`pruners.pipeline` and :mod:`pruners.grid` -- one run from names, and resumable
  experiment grids;
* :mod:`pruners.perturb` -- post-training perturbations (link removal by chance or by
  weight order, weight shuffling, weight noise) for robustness sweeps.

Masks are ``{param_name: torch.BoolTensor}`` dictionaries keyed by the model's
parameter names (``"layer1.0.conv1.weight"``), ``True`` where a weight is kept;
:func:`apply_masks` installs them as ``torch.nn.utils.prune`` buffers and
:func:`masks_from_model` reads them back.
"""

from topocore.errors import CheckpointError

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .masks import apply_masks, copy_model, masks_from_model, prunable_names, remove_masks, sparsity_of
from .methods import METHODS, PruningMethod, method_options, prune
from .models import MODELS, build, canonical_name, get_model
from .training import TrainResult, evaluate, recipe, train

__all__ = [
    "MODELS",
    "build",
    "canonical_name",
    "get_model",
    "METHODS",
    "PruningMethod",
    "method_options",
    "prune",
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
    "TrainResult",
    "evaluate",
    "recipe",
    "train",
]
