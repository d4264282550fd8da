"""MTCNN's three networks over the weights facenet-pytorch ships.

They are loaded without importing facenet-pytorch's Python package: it imports
torchvision, which also imports its datasets, models and transforms, and torch's
compiler through them. That was 1.4 s of a 5.4 s ``python -m engine`` run over 25
photos (benchmarks/versus_face_recognition.py), for three small networks.
The layers are those of facenet-pytorch's ``PNet``, ``RNet`` and ``ONet``, under
the same names, so their state dicts load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.packages import package_file


def _pool(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.max_pool2d(x, size, 2, ceil_mode=True)


class _PReLU(nn.PReLU):
    """``nn.PReLU`` that is quick on channels-last feature maps too.

    torch's PReLU on a channels-last (N, C, H, W) map runs at a third of its speed on
    a contiguous one; the same numbers seen as (N * H * W, C) rows run at full speed
    (0.44 ms instead of 0.66 for 200 R-Net windows, 2 cores). Same weights, same results.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or not x.is_contiguous(memory_format=torch.channels_last):
            return F.prelu(x, self.weight)
        rows = x.permute(0, 2, 3, 1)
        out = F.prelu(rows.reshape(-1, rows.shape[-1]), self.weight).view(rows.shape)
        return out.permute(0, 3, 1, 2)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) flattened in the (W, H, C) order the dense layers were trained on."""
    return x.permute(0, 3, 2, 1).flatten(1)  # flatten: a batch of any size in ONNX too


class PNet(nn.Module):
    """The proposal network: a face score and box offsets on a grid, for any photo size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), _PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), _PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), _PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _pool(self.prelu1(self.conv1(x)), 2)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """The refinement network, on 24 x 24 windows: a score and box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), _PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), _PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), _PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), _PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _pool(self.prelu1(self.conv1(x)), 3)
        x = _pool(self.prelu2(self.conv2(x)), 3)
        x = self.prelu4(self.dense4(_flat(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """The output network, on 48 x 48 windows: a score, box offsets and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), _PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), _PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), _PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), _PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), _PReLU(256)
        self.dense6_1, self.dense6_2 = nn.Linear(256, 2), nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = _pool(self.prelu1(self.conv1(x)), 3)
        x = _pool(self.prelu2(self.conv2(x)), 3)
        x = _pool(self.prelu3(self.conv3(x)), 2)
        x = self.prelu5(self.dense5(_flat(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


def networks() -> tuple[PNet, RNet, ONet]:
    """P-Net, R-Net and O-Net with the weights inside facenet-pytorch, in eval mode."""
    with torch.device("meta"):  # no random initial weights: they are replaced at once
        nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, ("pnet", "rnet", "onet"), strict=True):
        path = package_file("facenet_pytorch", "data", f"{name}.pt")
        weights = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(weights, assign=True)
        net.eval()
    return nets
