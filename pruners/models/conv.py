"""Conv-6 (Frankle & Carbin 2019, "The Lottery Ticket Hypothesis", Figure 2).

Layers: conv 64, 64, maxpool, 128, 128, maxpool, 256, 256, maxpool (3x3 kernels,
padding 1), then fully connected 256, 256, ``num_classes``.  BatchNorm follows every
conv and hidden linear layer (the classifier's logits are not normalised).  About
2.26M parameters for 3x32x32 inputs and 10 classes.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from topocore.errors import InputError

from ._init import kaiming_init

CONV6_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, "M")


class Conv6(nn.Module):
    """Conv-6 for ``input_shape = (C, H, W)`` inputs (H and W divisible by 8 keep all pixels)."""

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32)) -> None:
        super().__init__()
        c, h, w = input_shape
        layers: list[nn.Module] = []
        for item in CONV6_PLAN:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                h, w = h // 2, w // 2
            else:
                layers += [nn.Conv2d(c, item, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                c = item
        if h < 1 or w < 1:
            raise InputError(
                f"Conv-6 needs inputs of at least 8x8 pixels, got {input_shape[1]}x{input_shape[2]}; use larger inputs or another model"
            )
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(c * h * w, 256, bias=False),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 256, bias=False),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Linear(256, num_classes),
        )
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
