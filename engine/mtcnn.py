"""MTCNN's three stages over a batch of photos, with facenet-pytorch's networks and weights.

The stages follow facenet-pytorch's ``detect_face`` (Zhang et al., "Joint Face
Detection and Alignment using Multi-task Cascaded Convolutional Networks", 2016),
with two changes that make it faster on a CPU and leave its boxes where they were:
each stage's candidate windows are cut and resized in one batched gather
instead of one slice and one resize each (from one summed-area table: the
same averages as facenet-pytorch's area resizing), and the R-Net and O-Net candidates of
every photo go through their network in one pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch.nn.functional import interpolate
from torchvision.ops import batched_nms


@dataclasses.dataclass(frozen=True)
class Stages:
    """MTCNN's settings.

    Attributes:
        min_size: the smallest face looked for, in pixels of the photo given; the
            pyramid starts at a scale of 12 / min_size.
        thresholds: the P-Net, R-Net and O-Net scores (0 to 1) a window needs to
            go on to the next stage.
        factor: the scale between two pyramid levels.
    """

    min_size: float = 20.0
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    factor: float = 0.709


def pyramid(height: int, width: int, stages: Stages) -> list[float]:
    """The scales P-Net runs at: from 12 / min_size down to where the photo is 12 px."""
    scale = 12.0 / stages.min_size
    shortest = min(height, width) * scale
    scales = []
    while shortest >= 12:
        scales.append(scale)
        scale *= stages.factor
        shortest *= stages.factor
    return scales


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


def _proposals(
    pnet: torch.nn.Module, photos: torch.Tensor, stages: Stages
) -> tuple[torch.Tensor, torch.Tensor]:
    """P-Net's windows over the pyramid: (boxes (N, 9): x1 y1 x2 y2 score and four
    offsets, photo index of each)."""
    height, width = photos.shape[2:]
    boxes, owners = [], []
    for scale in pyramid(height, width, stages):
        level = interpolate(
            photos, size=(int(height * scale + 1), int(width * scale + 1)), mode="area"
        )
        offsets, probs = pnet(_normalise(level))
        score = probs[:, 1]
        found = (score >= stages.thresholds[0]).nonzero()
        owner = found[:, 0]
        cells = found[:, 1:].flip(1).to(photos.dtype)  # (x, y) on P-Net's grid
        top_left = ((2 * cells + 1) / scale).floor()
        bottom_right = ((2 * cells + 12) / scale).floor()
        level_boxes = torch.cat(
            [
                top_left,
                bottom_right,
                score[found[:, 0], found[:, 1], found[:, 2]].unsqueeze(1),
                offsets.permute(0, 2, 3, 1)[found[:, 0], found[:, 1], found[:, 2]],
            ],
            dim=1,
        )
        keep = batched_nms(level_boxes[:, :4], level_boxes[:, 4], owner, 0.5)
        boxes.append(level_boxes[keep])
        owners.append(owner[keep])
    if not boxes:
        return torch.zeros(0, 9), torch.zeros(0, dtype=torch.long)
    return torch.cat(boxes), torch.cat(owners)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes grown to squares about their centres (``rerec``)."""
    height = boxes[:, 3] - boxes[:, 1]
    width = boxes[:, 2] - boxes[:, 0]
    side = torch.maximum(width, height)
    out = boxes.clone()
    out[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Boxes moved by a network's regression, in units of the box's size (``bbreg``)."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.clone()
    out[:, 0] += offsets[:, 0] * width
    out[:, 1] += offsets[:, 1] * height
    out[:, 2] += offsets[:, 2] * width
    out[:, 3] += offsets[:, 3] * height
    return out


def _integral(photos: torch.Tensor) -> torch.Tensor:
    """Summed-area tables of (N, 3, H, W) photos, (N, 3, H + 1, W + 1), exact in int64."""
    table = photos.to(torch.int64).cumsum(2).cumsum(3)
    return torch.nn.functional.pad(table, (1, 0, 1, 0))


def _windows(
    table: torch.Tensor, boxes: torch.Tensor, owners: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each box's pixels resized to ``size`` x ``size``, and which boxes had any.

    As in facenet-pytorch, a box is truncated to whole pixels and clipped to the
    photo, and what is left is stretched to the square by area averaging (what
    ``interpolate(mode="area")`` does: output pixel i averages input rows
    floor(i h / size) to ceil((i + 1) h / size)). Here every box's averages come
    from one summed-area table, in one gather, instead of a slice and a resize each.
    """
    height, width = table.shape[2] - 1, table.shape[3] - 1
    whole = boxes[:, :4].trunc().long()
    x1 = whole[:, 0].clamp(min=1) - 1
    y1 = whole[:, 1].clamp(min=1) - 1
    x2 = whole[:, 2].clamp(max=width)
    y2 = whole[:, 3].clamp(max=height)
    usable = (x2 > x1) & (y2 > y1)
    x1, y1, x2, y2, owner = x1[usable], y1[usable], x2[usable], y2[usable], owners[usable]
    steps = torch.arange(size + 1)
    h, w = (y2 - y1).unsqueeze(1), (x2 - x1).unsqueeze(1)
    # Bin edges: floor(i * h / size) for starts, ceil((i + 1) * h / size) for ends.
    rows0 = y1.unsqueeze(1) + (steps[:-1] * h) // size
    rows1 = y1.unsqueeze(1) + -((-steps[1:] * h) // size)
    cols0 = x1.unsqueeze(1) + (steps[:-1] * w) // size
    cols1 = x1.unsqueeze(1) + -((-steps[1:] * w) // size)
    flat = table.permute(0, 2, 3, 1).reshape(-1, table.shape[1])  # (N * (H+1) * (W+1), 3)
    base = (owner * (height + 1) * (width + 1)).view(-1, 1, 1)
    stride = width + 1

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        index = base + rows.unsqueeze(2) * stride + cols.unsqueeze(1)  # (K, size, size)
        return flat[index.reshape(-1)].view(len(rows), size, size, -1)

    total = (
        corner(rows1, cols1) - corner(rows0, cols1) - corner(rows1, cols0) + corner(rows0, cols0)
    )
    count = ((rows1 - rows0).unsqueeze(2) * (cols1 - cols0).unsqueeze(1)).unsqueeze(3)
    crops = (total.to(torch.float32) / count).permute(0, 3, 1, 2).contiguous()
    return _normalise(crops), usable


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, owners: torch.Tensor, limit: float):
    """Non-maximum suppression by intersection over the smaller box, per photo (O-Net's)."""
    order = torch.argsort(scores, descending=True).tolist()
    b = boxes.tolist()
    owner = owners.tolist()
    area = [(r[2] - r[0] + 1) * (r[3] - r[1] + 1) for r in b]
    keep: list[int] = []
    for i in order:
        fine = True
        for j in keep:
            if owner[i] != owner[j]:
                continue
            w = min(b[i][2], b[j][2]) - max(b[i][0], b[j][0]) + 1
            h = min(b[i][3], b[j][3]) - max(b[i][1], b[j][1]) + 1
            if w > 0 and h > 0 and w * h / min(area[i], area[j]) > limit:
                fine = False
                break
        if fine:
            keep.append(i)
    return torch.as_tensor(keep, dtype=torch.long)


@torch.inference_mode()
def detect(
    nets: tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module],
    photos: np.ndarray,
    stages: Stages = Stages(),
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Faces in a batch of photos of one size.

    Args:
        nets: P-Net, R-Net and O-Net (facenet-pytorch's, with their weights).
        photos: (N, H, W, 3) uint8 RGB.
        stages: the pyramid and thresholds.

    Returns:
        Per photo, (boxes (K, 5): x1 y1 x2 y2 and O-Net's score, points (K, 5, 2):
        the five landmarks as (x, y)), in the photo's pixels.
    """
    pnet, rnet, onet = nets
    device = next(pnet.parameters()).device
    tensor = torch.tensor(photos, device=device).permute(0, 3, 1, 2).float().contiguous()
    count = tensor.shape[0]
    table = _integral(tensor)
    boxes, owners = _proposals(pnet, tensor, stages)
    keep = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
    boxes, owners = boxes[keep], owners[keep]
    moved = boxes[:, :4] + boxes[:, 5:9] * torch.stack(
        [boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, dim=1
    )
    boxes = _square(torch.cat([moved, boxes[:, 4:5]], dim=1))
    points = torch.zeros(0, 5, 2)

    if len(boxes):
        crops, usable = _windows(table, boxes, owners, 24)
        boxes, owners = boxes[usable], owners[usable]
        offsets, probs = rnet(crops)
        passed = probs[:, 1] > stages.thresholds[1]
        boxes = torch.cat([boxes[passed, :4], probs[passed, 1:2]], dim=1)
        owners, offsets = owners[passed], offsets[passed]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes = _square(_regress(boxes[keep], offsets[keep]))
        owners = owners[keep]

    if len(boxes):
        crops, usable = _windows(table, boxes, owners, 48)
        boxes, owners = boxes[usable], owners[usable]
        offsets, marks, probs = onet(crops)
        passed = probs[:, 1] > stages.thresholds[2]
        boxes = torch.cat([boxes[passed, :4], probs[passed, 1:2]], dim=1)
        owners, offsets, marks = owners[passed], offsets[passed], marks[passed]
        width = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        height = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        xs = width * marks[:, :5] + boxes[:, 0:1] - 1
        ys = height * marks[:, 5:] + boxes[:, 1:2] - 1
        points = torch.stack([xs, ys], dim=2)
        boxes = _regress(boxes, offsets)
        keep = _nms_min(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes, owners, points = boxes[keep], owners[keep], points[keep]

    boxes_np, points_np, owners_np = boxes.cpu().numpy(), points.cpu().numpy(), owners.cpu().numpy()
    return [
        (boxes_np[owners_np == i].astype(np.float64), points_np[owners_np == i].astype(np.float64))
        for i in range(count)
    ]
