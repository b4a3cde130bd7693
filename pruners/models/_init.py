"""Weight initialisation shared by the zoo models."""

from __future__ import annotations

import torch.nn as nn


def kaiming_init(model: nn.Module) -> None:
    """Kaiming-normal (fan-in, ReLU) for conv/linear weights, zero biases, BN to identity.

    He et al. 2015, "Delving deep into rectifiers"; the initialisation used by the
    pruning-at-initialization literature the paper follows.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
