"""ImageNet ResNets: ResNet-18 (basic blocks) and ResNet-50 (bottleneck blocks).

He et al. 2016, "Deep Residual Learning for Image Recognition", Table 1: a 7x7 conv
with 64 channels and stride 2, BatchNorm, ReLU, 3x3 max pooling with stride 2, four
stages with 64, 128, 256 and 512 planes (the first block of stages 2-4 has stride 2),
global average pooling and a linear classifier.

* ResNet-18: ``[2, 2, 2, 2]`` basic blocks (two 3x3 convs).
* ResNet-50: ``[3, 4, 6, 3]`` bottleneck blocks (1x1 reduce, 3x3, 1x1 expand by 4).
  The stride of a downsampling bottleneck sits on its 3x3 conv (the variant known as
  "ResNet v1.5", which torchvision and most sparse-training papers use; the paper
  put it on the first 1x1 conv).

Shortcuts where the shape changes are 1x1 convs with the block's stride followed by
BatchNorm (the paper's option B); elsewhere the identity.  Parameters for 1000
classes: 11,689,512 (ResNet-18, "11.7M") and 25,557,032 (ResNet-50, "25.6M").
Default input ``(3, 224, 224)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._init import kaiming_init

__all__ = ["ImageNetResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet50"]

IMAGENET_SHAPE = (3, 224, 224)


def _downsample(in_planes: int, out_planes: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs (the first with the block's stride), BatchNorm, ReLU, and a shortcut."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with the block's stride), 1x1 expand (x4), BatchNorm, ReLU, and a shortcut."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.downsample = _downsample(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ImageNetResNet(nn.Module):
    """ResNet for ImageNet-sized inputs (see the module docstring)."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        input_shape: tuple[int, int, int] = IMAGENET_SHAPE,
    ) -> None:
        super().__init__()
        c, h, w = input_shape
        if h < 32 or w < 32:
            raise ValueError(f"an ImageNet ResNet needs inputs of at least 32x32 pixels, got {h}x{w}")
        self.conv1 = nn.Conv2d(c, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_planes = 64
        stages = []
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            mods = []
            for j in range(blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                mods.append(block(in_planes, planes, stride))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*mods))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(in_planes, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)
        return self.fc(out)


def resnet18(num_classes: int = 1000, input_shape: tuple[int, int, int] = IMAGENET_SHAPE) -> ImageNetResNet:
    """ResNet-18 (basic blocks ``[2, 2, 2, 2]``; 11.7M parameters for 1000 classes)."""
    return ImageNetResNet(BasicBlock, (2, 2, 2, 2), num_classes, input_shape)


def resnet50(num_classes: int = 1000, input_shape: tuple[int, int, int] = IMAGENET_SHAPE) -> ImageNetResNet:
    """ResNet-50 (bottlenecks ``[3, 4, 6, 3]``, stride on the 3x3; 25.6M parameters for 1000 classes)."""
    return ImageNetResNet(Bottleneck, (3, 4, 6, 3), num_classes, input_shape)
