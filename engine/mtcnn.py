"""MTCNN's three stages over a batch of photos, with facenet-pytorch's networks and weights.

The stages follow facenet-pytorch's ``detect_face`` (Zhang et al., "Joint Face
Detection and Alignment using Multi-task Cascaded Convolutional Networks", 2016)
and give the same boxes, to float rounding. Every resize (the pyramid's levels,
R-Net's and O-Net's windows) averages the same pixels as its area resizing, but
from one summed-area table, with one gather per stage instead of a slice and a
resize per window. The networks (engine/mtcnn_nets.py) are facenet-pytorch's
layers and weights, loaded without importing its package or torchvision's, which
together cost 1.4 s of every start.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from engine.mtcnn_nets import batched_nms


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
    pnet: torch.nn.Module, table: torch.Tensor, stages: Stages
) -> tuple[torch.Tensor, torch.Tensor]:
    """P-Net's windows over the pyramid: (boxes (N, 9): x1 y1 x2 y2 score and four
    offsets, photo index of each)."""
    height, width = table.shape[1] - 1, table.shape[2] - 1
    boxes, owners = [], []
    for scale in pyramid(height, width, stages):
        offsets, probs = pnet(_level(table, (int(height * scale + 1), int(width * scale + 1))))
        score = probs[:, 1]
        found = (score >= stages.thresholds[0]).nonzero()
        owner = found[:, 0]
        cells = found[:, 1:].flip(1).float()  # (x, y) on P-Net's grid
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


def _integral(photos: np.ndarray) -> torch.Tensor:
    """Summed-area tables of (N, H, W, 3) uint8 photos, (N, H + 1, W + 1, 3), exact in int32
    (255 x 4096 x 2048 still fits); numpy's cumsum is four times torch's here."""
    table = np.zeros((photos.shape[0], photos.shape[1] + 1, photos.shape[2] + 1, 3), np.int32)
    table[:, 1:, 1:] = photos  # summing in place over int32 is twice as quick as from uint8
    np.cumsum(table, axis=1, out=table)
    np.cumsum(table, axis=2, out=table)
    return torch.from_numpy(table)


def _edges(start: torch.Tensor, end: torch.Tensor, count: int) -> tuple[torch.Tensor, ...]:
    """Area resizing's bins: output pixel i averages input pixels floor(i n / count)
    up to ceil((i + 1) n / count), n = end - start (as ``interpolate(mode="area")``)."""
    steps = torch.arange(count + 1)
    length = (end - start).unsqueeze(-1)
    first = start.unsqueeze(-1) + (steps[:-1] * length) // count
    last = start.unsqueeze(-1) - ((-steps[1:] * length) // count)  # a ceiling division
    return first, last


def _level(table: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Whole photos resized to ``size`` (rows, columns) by area averaging, normalised:
    whole rows, then whole columns, of the summed-area table."""
    rows0, rows1 = _edges(torch.tensor(0), torch.tensor(table.shape[1] - 1), size[0])
    cols0, cols1 = _edges(torch.tensor(0), torch.tensor(table.shape[2] - 1), size[1])
    strip = table.index_select(1, rows1) - table.index_select(1, rows0)
    total = strip.index_select(2, cols1) - strip.index_select(2, cols0)
    count = ((rows1 - rows0).unsqueeze(1) * (cols1 - cols0).unsqueeze(0)).unsqueeze(2)
    return _normalise(total.to(torch.float32) / count).permute(0, 3, 1, 2)


def _area(
    table: torch.Tensor,
    owner: torch.Tensor,
    corners: tuple[torch.Tensor, ...],
    size: tuple[int, int],
) -> torch.Tensor:
    """Rectangles of photos resized to ``size`` (rows, columns) by area averaging, normalised.

    Output pixel i averages input rows floor(i h / rows) to ceil((i + 1) h / rows),
    as ``interpolate(mode="area")`` does; each average comes from four entries of
    the summed-area table, for every rectangle in one gather.

    Args:
        table: from ``_integral``.
        owner: (K,) the photo of each rectangle.
        corners: x1, y1, x2, y2, each (K,) int64, in whole pixels, x2 and y2 exclusive.
    Returns:
        (K, 3, rows, columns) float32, channels-last in memory, as the networks want.
    """
    x1, y1, x2, y2 = corners
    rows, columns = size
    stride = table.shape[2]
    flat = table.reshape(-1, table.shape[3])  # (N * (H+1) * (W+1), 3)
    base = (owner * table.shape[1] * stride).view(-1, 1, 1)

    rows0, rows1 = _edges(y1, y2, rows)
    cols0, cols1 = _edges(x1, x2, columns)

    def corner(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        index = base + r.unsqueeze(2) * stride + c.unsqueeze(1)  # (K, rows, columns)
        return flat[index.reshape(-1)].view(len(r), rows, columns, -1)

    total = (
        corner(rows1, cols1) - corner(rows0, cols1) - corner(rows1, cols0) + corner(rows0, cols0)
    )
    count = ((rows1 - rows0).unsqueeze(2) * (cols1 - cols0).unsqueeze(1)).unsqueeze(3)
    return _normalise(total.to(torch.float32) / count).permute(0, 3, 1, 2).contiguous()


def _windows(
    table: torch.Tensor, boxes: torch.Tensor, owners: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each box's pixels resized to ``size`` x ``size``, and which boxes had any.

    As in facenet-pytorch, a box is truncated to whole pixels and clipped to the
    photo, and what is left is stretched to the square by area averaging; here in
    one gather for every box instead of a slice and a resize each.
    """
    height, width = table.shape[1] - 1, table.shape[2] - 1
    whole = boxes[:, :4].trunc().long()
    x1 = whole[:, 0].clamp(min=1) - 1
    y1 = whole[:, 1].clamp(min=1) - 1
    x2 = whole[:, 2].clamp(max=width)
    y2 = whole[:, 3].clamp(max=height)
    usable = (x2 > x1) & (y2 > y1)
    corners = (x1[usable], y1[usable], x2[usable], y2[usable])
    return _area(table, owners[usable], corners, (size, size)), usable


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, owners: torch.Tensor, limit: float):
    """Non-maximum suppression by intersection over the smaller box, per photo (O-Net's)."""
    if not len(boxes):
        return torch.zeros(0, dtype=torch.long)
    b = boxes.double().numpy() + (owners.double().numpy() * (float(boxes.max()) + 1))[:, None]
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    order = np.argsort(-scores.numpy(), kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]) + 1
        h = np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]) + 1
        overlap = np.maximum(w, 0) * np.maximum(h, 0) / np.minimum(area[i], area[rest])
        order = rest[overlap <= limit]
    return torch.as_tensor(np.asarray(keep, np.int64))


def _on_cpu(net: torch.nn.Module):
    """``net`` taking and giving CPU tensors wherever it runs: the steps between the
    networks are small and stay on the CPU."""
    device = next(net.parameters()).device
    if device.type == "cpu":
        return net
    return lambda x: tuple(out.cpu() for out in net(x.to(device)))


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
    pnet, rnet, onet = (_on_cpu(net) for net in nets)
    count = len(photos)
    table = _integral(photos)
    boxes, owners = _proposals(pnet, table, stages)
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
