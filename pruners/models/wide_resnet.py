"""Wide-ResNet (Zagoruyko & Komodakis 2016, "Wide Residual Networks"), pre-activation blocks.

WRN-d-k: a 3x3 conv with 16 channels, three groups of ``(d - 4) / 6`` pre-activation
basic blocks (BN-ReLU-conv3x3-BN-ReLU-conv3x3) with ``16k, 32k, 64k`` channels (the
first block of groups 2 and 3 has stride 2), a final BN-ReLU, global average pooling
and a linear classifier.  A 1x1 conv shortcut (applied to the pre-activated input,
as in the reference implementation) is used wherever the shape changes, the
identity elsewhere.  WRN-28-2 has widths 32/64/128 and about 1.47M parameters.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from topocore.errors import InputError

from ._init import kaiming_init


class PreActBlock(nn.Module):
    """Pre-activation basic block with an optional 1x1 conv shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self.equal_in_out = in_planes == planes and stride == 1
        self.shortcut = (
            None
            if self.equal_in_out
            else nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        if self.shortcut is None:
            return out + x
        return out + self.shortcut(pre)


class WideResNet(nn.Module):
    """WRN-depth-widen for CIFAR-sized inputs."""

    def __init__(
        self,
        depth: int = 28,
        widen: int = 2,
        num_classes: int = 10,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise InputError(f"Wide-ResNet depth must be 6n + 4 (e.g. 28), got {depth}")
        n = (depth - 4) // 6
        widths = (16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(input_shape[0], 16, kernel_size=3, stride=1, padding=1, bias=False)
        planes = 16
        groups = []
        for i, width in enumerate(widths):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(PreActBlock(planes, width, stride, dropout))
                planes = width
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(planes)
        self.fc = nn.Linear(planes, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.block3(self.block2(self.block1(out)))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1)
        out = torch.flatten(out, 1)
        return self.fc(out)


def wrn28_2(num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32), dropout: float = 0.0) -> WideResNet:
    """Wide-ResNet-28-2 (widths 32/64/128)."""
    return WideResNet(28, 2, num_classes, input_shape, dropout)
