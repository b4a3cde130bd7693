"""CIFAR ResNets (He et al. 2016, "Deep Residual Learning for Image Recognition", Section 4.2).

A 3x3 conv with 16 channels, then three stages of ``n`` basic blocks with 16, 32
and 64 channels (the first block of stages 2 and 3 has stride 2), global average
pooling and a linear classifier: depth ``6n + 2`` (ResNet-20: n=3, ResNet-32: n=5).

Shortcuts where the shape changes:

* option ``"A"``: parameter-free, the input subsampled with stride 2 and zero-padded
  with ``planes // 4`` channels on each side;
* option ``"B"`` (default): 1x1 convolution with stride 2 followed by BatchNorm.

Elsewhere the shortcut is the identity.  About 0.27M (ResNet-20) and 0.46M
(ResNet-32) parameters.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from topocore.errors import InputError

from ._init import kaiming_init


class PadShortcut(nn.Module):
    """Option-A shortcut: ``x[:, :, ::stride, ::stride]`` zero-padded with ``pad`` channels on each side."""

    def __init__(self, pad: int, stride: int = 2) -> None:
        super().__init__()
        self.pad = int(pad)
        self.stride = int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad))

    def extra_repr(self) -> str:
        return f"pad={self.pad}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and ReLU, plus a shortcut (identity, option A or B)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                if planes - in_planes != 2 * (planes // 4):
                    raise InputError("option-A shortcuts need planes == 2 * in_planes; use shortcut='B'")
                self.shortcut = PadShortcut(planes // 4, stride)
            elif shortcut == "B":
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )
            else:
                raise InputError(f"shortcut must be 'A' or 'B', got {shortcut!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR-sized inputs."""

    def __init__(
        self,
        num_blocks: int,
        num_classes: int = 10,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        shortcut: str = "B",
        widths: tuple[int, int, int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        in_ch = input_shape[0]
        self.conv1 = nn.Conv2d(in_ch, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        planes = widths[0]
        stages = []
        for i, width in enumerate(widths):
            blocks = []
            for j in range(num_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(planes, width, stride, shortcut))
                planes = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(planes, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1)
        out = torch.flatten(out, 1)
        return self.linear(out)


def resnet20(num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32), shortcut: str = "B") -> CifarResNet:
    """ResNet-20 (3 blocks per stage)."""
    return CifarResNet(3, num_classes, input_shape, shortcut)


def resnet32(num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32), shortcut: str = "B") -> CifarResNet:
    """ResNet-32 (5 blocks per stage)."""
    return CifarResNet(5, num_classes, input_shape, shortcut)
