"""dlib's face recognition ResNet in PyTorch, its weights read straight from dlib's .dat file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.dlib_format import (
    CHIP_SIZE,
    DESCRIPTOR_DIM,
    LEVELS,
    Layer,
    check_architecture,
    read_network,
)

__all__ = ["CHIP_SIZE", "DESCRIPTOR_DIM", "DlibResNet", "load_dlib_resnet"]

log = logging.getLogger(__name__)


class _ChannelAffine(nn.Module):
    """dlib's affine layer in conv mode: ``gamma * x + beta`` per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("gamma", torch.ones(1, channels, 1, 1))
        self.register_buffer("beta", torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, x, self.gamma)


def _add_zero_extended(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: when the two inputs differ in channels or size, each is
    zero-extended (at the end of each dimension) to the larger of the two first."""
    if a.shape == b.shape:
        return a + b
    channels, rows, cols = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def extend(t: torch.Tensor) -> torch.Tensor:
        pads = (0, cols - t.shape[3], 0, rows - t.shape[2], 0, channels - t.shape[1])
        return F.pad(t, pads)

    return extend(a) + extend(b)


class _Residual(nn.Module):
    """``relu(x + BN(con(relu(BN(con(x))))))``, where ``down`` halves the resolution:
    stride 2 in the first convolution and a 2x2 average pool on the shortcut."""

    def __init__(self, inputs: int, filters: int, *, down: bool) -> None:
        super().__init__()
        self.down = down
        stride, pad = (2, 0) if down else (1, 1)
        self.conv1 = nn.Conv2d(inputs, filters, 3, stride=stride, padding=pad)
        self.affine1: nn.Module = _ChannelAffine(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1)
        self.affine2: nn.Module = _ChannelAffine(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2) if self.down else x
        return F.relu(_add_zero_extended(y, shortcut))


class DlibResNet(nn.Module):
    """dlib_face_recognition_resnet_model_v1 (a 29-convolution ResNet) in PyTorch.

    Build it with :func:`load_dlib_resnet`; a bare instance has no trained weights.

    Attributes:
        channels_last: convert the input to channels-last memory format, which the
            loader also gives the weights (set it False after ``.to(memory_format=
            torch.contiguous_format)``, e.g. to compare the two).
    """

    def __init__(self) -> None:
        super().__init__()
        self.channels_last = True
        self.register_buffer("means", torch.zeros(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, 32, 7, stride=2)
        self.stem_affine: nn.Module = _ChannelAffine(32)
        blocks = []
        inputs = 32
        for index, (filters, count) in enumerate(LEVELS):
            for block in range(count):
                down = index > 0 and block == 0
                blocks.append(_Residual(inputs, filters, down=down))
                inputs = filters
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(inputs, DESCRIPTOR_DIM, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Descriptors of aligned face chips.

        Args:
            x: (N, 3, 150, 150) RGB pixel values in 0..255 (any dtype, any device: they
                are moved to the network's), chips aligned as ``dlib.get_face_chip(image,
                shape, size=150, padding=0.25)`` aligns them.

        Returns:
            (N, 128) descriptors on the network's device, equal to dlib's
            ``compute_face_descriptor`` to within about 1e-6 in float32 on the CPU. They
            are not normalised: their lengths are near 1.5. (On a GPU, torch may let
            cuDNN convolve in TF32, which costs about three decimal places; set
            ``torch.backends.cudnn.conv.fp32_precision = "ieee"`` where that matters.)

        Raises:
            ValueError: for input of another shape.
        """
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, CHIP_SIZE, CHIP_SIZE):
            raise ValueError(
                f"expected (N, 3, {CHIP_SIZE}, {CHIP_SIZE}) RGB chips, got {tuple(x.shape)}"
            )
        x = x.to(device=self.means.device, dtype=self.means.dtype)
        if self.channels_last:
            # oneDNN's convolutions run a quarter to a third faster on channels-last data.
            x = x.contiguous(memory_format=torch.channels_last)
        # dlib's input_rgb_image_sized: (pixel - channel mean) / 256.
        x = (x - self.means) / 256.0
        x = F.relu(self.stem_affine(self.stem(x)))
        x = F.max_pool2d(x, 3, stride=2)
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(dim=(2, 3)))


def _fold_affine(conv: nn.Conv2d, weight: np.ndarray, bias: np.ndarray, affine: Layer) -> None:
    """Set ``conv`` to convolve and then apply ``affine``: gamma scales the filters and
    the bias, beta adds to the bias. Done in float64 so only the final cast rounds."""
    gamma = affine.arrays["gamma"].astype(np.float64)
    beta = affine.arrays["beta"].astype(np.float64)
    folded_weight = weight.astype(np.float64) * gamma[:, None, None, None]
    folded_bias = bias.astype(np.float64) * gamma + beta
    conv.weight.copy_(torch.from_numpy(folded_weight.astype(np.float32)))
    conv.bias.copy_(torch.from_numpy(folded_bias.astype(np.float32)))


def _set_conv_affine(
    conv: nn.Conv2d, owner: nn.Module, slot: str, layers: list[Layer], *, fold: bool
) -> None:
    """Load the next con and affine of ``layers`` into ``conv`` and ``owner.<slot>``."""
    con, affine = layers.pop(0), layers.pop(0)
    weight, bias = con.arrays["weight"], con.arrays["bias"]
    if fold:
        _fold_affine(conv, weight, bias, affine)
        setattr(owner, slot, nn.Identity())
    else:
        conv.weight.copy_(torch.from_numpy(weight))
        conv.bias.copy_(torch.from_numpy(bias))
        module = getattr(owner, slot)
        module.gamma.copy_(torch.from_numpy(affine.arrays["gamma"]).view(1, -1, 1, 1))
        module.beta.copy_(torch.from_numpy(affine.arrays["beta"]).view(1, -1, 1, 1))


@torch.no_grad()
def load_dlib_resnet(path: Path, *, fold_affine: bool = True) -> DlibResNet:
    """Read dlib_face_recognition_resnet_model_v1.dat into a :class:`DlibResNet`.

    Args:
        path: dlib's network file, as shipped in the face_recognition_models package.
        fold_affine: fold each affine layer into the convolution before it (faster; it
            changes the descriptors only by float rounding, about 1e-6).

    Returns:
        The network in eval mode, on the CPU, in float32, its parameters frozen.

    Raises:
        ValueError: when the file is not this network in dlib's format (another model,
            a truncated file, an unsupported layer version).
        OSError: when the file cannot be read.
    """
    path = Path(path)
    network = read_network(path.read_bytes(), path.name)
    check_architecture(network, path.name)
    model = DlibResNet()
    model.means.copy_(torch.tensor(network.means, dtype=torch.float32).view(1, 3, 1, 1))
    # The architecture check fixed the order: con, affine, relu, max_pool, then per
    # block con, affine, relu, con, affine, [avg_pool], add_prev, relu, and at last fc.
    layers = [layer for layer in network.layers if layer.kind in ("con", "affine", "fc")]
    _set_conv_affine(model.stem, model, "stem_affine", layers, fold=fold_affine)
    for block in model.blocks:
        _set_conv_affine(block.conv1, block, "affine1", layers, fold=fold_affine)
        _set_conv_affine(block.conv2, block, "affine2", layers, fold=fold_affine)
    model.fc.weight.copy_(torch.from_numpy(layers.pop(0).arrays["weight"]))
    log.debug("loaded %s: %d parameters", path.name, sum(p.numel() for p in model.parameters()))
    # Frozen, so that calls outside torch.inference_mode() record no autograd graph either.
    return model.requires_grad_(False).to(memory_format=torch.channels_last).eval()
