"""Global magnitude pruning at initialization.

Score ``S_j = |w_j|``; the ``n_keep`` largest magnitudes are kept over all layers (ties
broken by position).  Data-free, O(N).

Reference: S. Han, J. Pool, J. Tran, W. Dally. "Learning both Weights and Connections for
Efficient Neural Networks". NeurIPS 2015 (magnitude criterion); used at initialization as
a baseline by Frankle et al. "Pruning Neural Networks at Initialization: Why are We
Missing the Mark?", ICLR 2021.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..selection import global_top_k
from ._common import Context, PruningMethod, prunable_weights

__all__ = ["prune_magnitude", "METHOD"]


def prune_magnitude(model: nn.Module, n_keep: int, ctx: Context) -> dict[str, torch.Tensor]:
    """Keep the ``n_keep`` weights of largest ``|w|``."""
    return global_top_k({n: w.detach().abs() for n, w in prunable_weights(model).items()}, n_keep)


METHOD = PruningMethod("magnitude", prune_magnitude, needs_data=False, needs_input_shape=False, summary="global |w|")
