"""MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks").

The building block is the *inverted residual*: a 1x1 conv expanding ``c_in`` channels
by a factor ``t``, BatchNorm, ReLU6, a 3x3 *depthwise* conv (``groups`` = channels)
with the block's stride, BatchNorm, ReLU6, and a 1x1 *linear* projection to ``c_out``
channels with BatchNorm and no activation (the linear bottleneck).  Stages follow the
paper's Table 2, rows ``(t, c, n, s)``: expansion, output channels, repeats, stride of
the first repeat::

    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)

Two variants:

* :func:`mobilenet_v2_imagenet` (zoo name ``mobilenet_v2_imagenet``): the paper's
  network at width 1.0 for ``(3, 224, 224)`` inputs: a 3x3 stride-2 conv with 32
  channels, the stages above (no expansion conv when ``t = 1``), a 1x1 conv to 1280
  channels, global average pooling, dropout 0.2 and a linear classifier; a residual
  addition wherever the stride is 1 and ``c_in = c_out``.  3,504,872 parameters for
  1000 classes ("3.5M").
* :func:`mobilenet_v2` (zoo name ``mobilenet_v2``, the ``MobileNetV2`` rows of the
  authors' published table): the usual CIFAR adaptation for ``(3, 32, 32)`` inputs:
  the first conv and the second stage have stride 1 (so the last feature map is 4x4),
  every block has its expansion conv (also when ``t = 1``), and every stride-1 block
  has a shortcut (a 1x1 conv with BatchNorm where ``c_in != c_out``).  Its MGE for
  CIFAR-10 has 1,675,786 nodes; the published rows have 1,676,182, i.e. 396 =
  3 x (34^2 - 32^2) more, the zero-padding ring of the input that the authors'
  encoding keeps as nodes (the same 396 separate our ResNet-20 and theirs).
  About 2.3M parameters for 10 classes.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._init import kaiming_init

__all__ = ["MobileNetV2", "InvertedResidual", "mobilenet_v2", "mobilenet_v2_imagenet", "MOBILENET_V2_STAGES"]

#: The paper's Table 2 bottleneck rows ``(t, c, n, s)``.
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))


class InvertedResidual(nn.Module):
    """Expand (1x1) - depthwise 3x3 (stride) - linear projection (1x1), with an optional shortcut.

    Parameters
    ----------
    in_planes, out_planes : int
        Channels in and out.
    expansion : int
        The factor ``t`` of the hidden width ``t * in_planes``.
    stride : int
        Stride of the depthwise conv.
    always_expand : bool
        Keep the 1x1 expansion conv when ``expansion == 1`` (CIFAR variant).
    conv_shortcut : bool
        A stride-1 block whose channel count changes gets a 1x1 conv + BatchNorm
        shortcut (CIFAR variant); otherwise only stride-1, same-width blocks have a
        (identity) shortcut.
    """

    def __init__(self, in_planes: int, out_planes: int, expansion: int, stride: int, *,
                 always_expand: bool = False, conv_shortcut: bool = False) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = in_planes * expansion
        self.expand: nn.Module | None = None
        if expansion != 1 or always_expand:
            self.expand = nn.Sequential(
                nn.Conv2d(in_planes, hidden, kernel_size=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)
            )
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel_size=3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
        )
        self.project = nn.Sequential(nn.Conv2d(hidden, out_planes, kernel_size=1, bias=False), nn.BatchNorm2d(out_planes))
        self.residual = stride == 1 and (in_planes == out_planes or conv_shortcut)
        self.shortcut: nn.Module | None = None
        if self.residual and in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, kernel_size=1, bias=False), nn.BatchNorm2d(out_planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.project(self.depthwise(out))
        if not self.residual:
            return out
        return out + (x if self.shortcut is None else self.shortcut(x))


class MobileNetV2(nn.Module):
    """MobileNetV2 at width 1.0 (see the module docstring for the two variants).

    Parameters
    ----------
    num_classes : int
    input_shape : tuple
        ``(C, H, W)``.
    cifar : bool
        The CIFAR adaptation (stride 1 in the first conv and the second stage, the
        expansion conv in every block, conv shortcuts), else the paper's network.
    dropout : float
        Dropout before the classifier (the paper's network; 0 for the CIFAR variant).
    """

    def __init__(self, num_classes: int = 1000, input_shape: tuple[int, int, int] = (3, 224, 224), *,
                 cifar: bool = False, dropout: float = 0.2) -> None:
        super().__init__()
        c, h, w = input_shape
        stages = [list(row) for row in MOBILENET_V2_STAGES]
        first_stride = 2
        if cifar:
            first_stride = 1
            stages[1][3] = 1
        total_stride = first_stride * 2 ** sum(1 for row in stages if row[3] == 2)
        if h < total_stride or w < total_stride:
            raise ValueError(f"this MobileNetV2 needs inputs of at least {total_stride}x{total_stride} pixels, got {h}x{w}")
        self.stem = nn.Sequential(
            nn.Conv2d(c, 32, kernel_size=3, stride=first_stride, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU6(inplace=True),
        )
        blocks = []
        in_planes = 32
        for t, out_planes, n, s in stages:
            for i in range(n):
                blocks.append(InvertedResidual(in_planes, out_planes, t, s if i == 0 else 1,
                                               always_expand=cifar, conv_shortcut=cifar))
                in_planes = out_planes
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Conv2d(in_planes, 1280, kernel_size=1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(1280, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.blocks(self.stem(x)))
        out = torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)
        return self.classifier(self.dropout(out))


def mobilenet_v2(num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32)) -> MobileNetV2:
    """The CIFAR MobileNetV2 of the authors' published data (module docstring)."""
    return MobileNetV2(num_classes, input_shape, cifar=True, dropout=0.0)


def mobilenet_v2_imagenet(num_classes: int = 1000, input_shape: tuple[int, int, int] = (3, 224, 224)) -> MobileNetV2:
    """The paper's MobileNetV2 (width 1.0, ReLU6, dropout 0.2; 3.5M parameters for 1000 classes)."""
    return MobileNetV2(num_classes, input_shape, cifar=False, dropout=0.2)
