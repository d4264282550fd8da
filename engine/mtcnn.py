"""MTCNN's three stages over a batch of photos, with facenet-pytorch's networks and weights.

The stages follow facenet-pytorch's ``detect_face`` (Zhang et al., "Joint Face
Detection and Alignment using Multi-task Cascaded Convolutional Networks", 2016)
and give the same boxes, to float rounding. Every resize (the pyramid's levels,
R-Net's and O-Net's windows) averages the same pixels as its area resizing, but
from one summed-area table, with one gather per stage instead of a slice and a
resize per window.

The steps between the networks are numpy, and the networks are any callables from
an (N, 3, H, W) float32 array to their outputs as arrays: ONNX Runtime sessions on
the CPU, facenet-pytorch's layers in torch on a GPU (engine/runtime.py). So
detecting on the CPU does not import torch, whose import alone takes as long as
detecting in 25 photos.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor

import numpy as np

from engine.runtime import Net


@dataclasses.dataclass(frozen=True)
class Stages:
    """MTCNN's settings.

    Attributes:
        min_size: the smallest face looked for, in pixels of the photo given; the
            pyramid starts at a scale of 12 / min_size.
        thresholds: the P-Net, R-Net and O-Net scores (0 to 1) a window needs to
            go on to the next stage.
        factor: the scale between two pyramid levels.
        cut_threshold: with a score, R-Net's threshold for the windows that reach
            past the photo's edge. A window is clipped to the photo and what is left
            is stretched to R-Net's square, so a face the frame cuts reaches R-Net
            squashed and scores low. Such a window that passes only this lower
            threshold gets a second look from O-Net, and a face found so is kept
            where the usual stages found none. The faces found as usual are the
            same, box for box.
    """

    min_size: float = 20.0
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    factor: float = 0.709
    cut_threshold: float | None = None


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


def _averages(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Summed pixels (K, rows, columns, 3) over their pixel counts (rows, columns) or
    (K, rows, columns), normalised as MTCNN's networks take them, (v - 127.5) / 128,
    and channel-first: (K, 3, rows, columns) float32, in one pass and a subtraction."""
    out = np.empty((total.shape[0], 3, *total.shape[1:3]), np.float32)
    factor = np.float32(0.0078125) / count.astype(np.float32)
    np.multiply(total.transpose(0, 3, 1, 2), factor[..., None, :, :], out=out)
    out -= np.float32(127.5 * 0.0078125)
    return out


# nms() compares boxes in blocks of rows of about this many pairs (16 MB of float32).
_PAIRS = 1 << 22


def nms(boxes: np.ndarray, scores: np.ndarray, limit: float) -> np.ndarray:
    """Greedy non-maximum suppression by intersection over union above ``limit``: the
    indices kept, best score first, as torchvision's ``nms`` keeps them (float32
    areas without the +1 of the MTCNN code's own NMS).

    Each box is compared with every box after it in score order, a block of rows at
    a time; only boxes that overlap a later one are then visited one by one (of the
    143 boxes of P-Net's last NMS of a 640x480 photo, none). 3.3 ms a photo was
    spent in a loop over every kept box."""
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    x1, y1, x2, y2 = np.asarray(boxes, np.float32)[order].T
    area = (x2 - x1) * (y2 - y1)
    count = len(order)
    alive = np.ones(count, bool)
    rows = max(1, _PAIRS // max(count, 1))
    for start in range(0, count, rows):
        stop = min(start + rows, count)
        block = slice(start, stop)
        w = np.minimum(x2[block, None], x2) - np.maximum(x1[block, None], x1)
        h = np.minimum(y2[block, None], y2) - np.maximum(y1[block, None], y1)
        inter = np.maximum(w, 0) * np.maximum(h, 0)
        over = inter / (area[block, None] + area - inter) > limit
        over &= np.arange(count) > np.arange(start, stop)[:, None]  # later boxes only
        for i in np.flatnonzero(over.any(axis=1)):
            if alive[start + i]:
                alive &= ~over[i]
    return order[alive].astype(np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, limit: float
) -> np.ndarray:
    """``nms`` within each group (photo), never across, as ``torchvision.ops.batched_nms``:
    the indices kept, best score first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    scores = np.asarray(scores, np.float32)
    kept = [
        members[nms(boxes[members], scores[members], limit)]
        for members in (np.flatnonzero(groups == g) for g in np.unique(groups))
    ]
    keep = np.concatenate(kept)
    return keep[np.argsort(-scores[keep], kind="stable")]


def _proposals(
    pnet: Net, table: np.ndarray, stages: Stages, levels: Executor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """P-Net's windows over the pyramid: (boxes (N, 9): x1 y1 x2 y2 score and four
    offsets, photo index of each). With ``levels``, the levels run on its threads."""
    height, width = table.shape[1] - 1, table.shape[2] - 1

    def level(scale: float) -> tuple[np.ndarray, np.ndarray]:
        offsets, probs = pnet(_level(table, (int(height * scale + 1), int(width * scale + 1))))
        score = probs[:, 1]
        owner, rows, cols = np.nonzero(score >= stages.thresholds[0])
        cells = np.stack([cols, rows], axis=1).astype(np.float32)  # (x, y) on P-Net's grid
        scale32 = np.float32(scale)
        level_boxes = np.concatenate(
            [
                np.floor((2 * cells + 1) / scale32),
                np.floor((2 * cells + 12) / scale32),
                score[owner, rows, cols][:, None],
                offsets.transpose(0, 2, 3, 1)[owner, rows, cols],
            ],
            axis=1,
            dtype=np.float32,
        )
        keep = batched_nms(level_boxes[:, :4], level_boxes[:, 4], owner, 0.5)
        return level_boxes[keep], owner[keep]

    scales = pyramid(height, width, stages)
    found = list((levels.map if levels is not None else map)(level, scales))
    if not found:
        return np.zeros((0, 9), np.float32), np.zeros(0, np.int64)
    return (
        np.concatenate([boxes for boxes, _ in found]),
        np.concatenate([owners for _, owners in found]).astype(np.int64),
    )


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres (``rerec``)."""
    height = boxes[:, 3] - boxes[:, 1]
    width = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(width, height)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by a network's regression, in units of the box's size (``bbreg``)."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.copy()
    out[:, 0] += offsets[:, 0] * width
    out[:, 1] += offsets[:, 1] * height
    out[:, 2] += offsets[:, 2] * width
    out[:, 3] += offsets[:, 3] * height
    return out


def _integral(photos: np.ndarray) -> np.ndarray:
    """Summed-area tables of (N, H, W, 3) uint8 photos, (N, H + 1, W + 1, 3), exact in int32
    (255 x 4096 x 2048 still fits)."""
    table = np.zeros((photos.shape[0], photos.shape[1] + 1, photos.shape[2] + 1, 3), np.int32)
    table[:, 1:, 1:] = photos  # summing in place over int32 is twice as quick as from uint8
    np.cumsum(table, axis=1, out=table)
    np.cumsum(table, axis=2, out=table)
    return table


def _edges(start: np.ndarray, end: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Area resizing's bins: output pixel i averages input pixels floor(i n / count)
    up to ceil((i + 1) n / count), n = end - start (as ``interpolate(mode="area")``)."""
    steps = np.arange(count + 1, dtype=np.int64)
    start, length = np.asarray(start)[..., None], (np.asarray(end) - np.asarray(start))[..., None]
    first = start + (steps[:-1] * length) // count
    last = start - ((-steps[1:] * length) // count)  # a ceiling division
    return first, last


def _level(table: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Whole photos resized to ``size`` (rows, columns) by area averaging, normalised:
    whole rows, then whole columns, of the summed-area table. (N, 3, rows, columns)."""
    rows0, rows1 = _edges(np.int64(0), np.int64(table.shape[1] - 1), size[0])
    cols0, cols1 = _edges(np.int64(0), np.int64(table.shape[2] - 1), size[1])
    strip = table.take(rows1, axis=1) - table.take(rows0, axis=1)
    total = strip.take(cols1, axis=2) - strip.take(cols0, axis=2)
    return _averages(total, (rows1 - rows0)[:, None] * (cols1 - cols0)[None, :])


def _area(
    table: np.ndarray,
    owner: np.ndarray,
    corners: tuple[np.ndarray, ...],
    size: tuple[int, int],
) -> np.ndarray:
    """Rectangles of photos resized to ``size`` (rows, columns) by area averaging, normalised.

    Output pixel i averages input rows floor(i h / rows) to ceil((i + 1) h / rows),
    as ``interpolate(mode="area")`` does; each average comes from four entries of
    the summed-area table, for every rectangle in one gather.

    Args:
        table: from ``_integral``.
        owner: (K,) the photo of each rectangle.
        corners: x1, y1, x2, y2, each (K,) int64, in whole pixels, x2 and y2 exclusive.
    Returns:
        (K, 3, rows, columns) float32.
    """
    x1, y1, x2, y2 = corners
    rows, columns = size
    stride = table.shape[2]
    flat = table.reshape(-1, table.shape[3])  # (N * (H+1) * (W+1), 3)
    base = (owner * table.shape[1] * stride).reshape(-1, 1, 1)

    rows0, rows1 = _edges(y1, y2, rows)
    cols0, cols1 = _edges(x1, x2, columns)

    def corner(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        index = base + r[:, :, None] * stride + c[:, None, :]  # (K, rows, columns)
        # take() is 7x as quick as indexing with an array here (0.6 against 3.9 ms)
        return flat.take(index.reshape(-1), axis=0).reshape(len(r), rows, columns, flat.shape[1])

    total = (
        corner(rows1, cols1) - corner(rows0, cols1) - corner(rows1, cols0) + corner(rows0, cols0)
    )
    return _averages(total, (rows1 - rows0)[:, :, None] * (cols1 - cols0)[:, None, :])


def _windows(
    table: np.ndarray, boxes: np.ndarray, owners: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each box's pixels resized to ``size`` x ``size``, and which boxes had any.

    As in facenet-pytorch, a box is truncated to whole pixels and clipped to the
    photo, and what is left is stretched to the square by area averaging; here in
    one gather for every box instead of a slice and a resize each.
    """
    height, width = table.shape[1] - 1, table.shape[2] - 1
    whole = np.trunc(boxes[:, :4]).astype(np.int64)
    x1 = np.maximum(whole[:, 0], 1) - 1
    y1 = np.maximum(whole[:, 1], 1) - 1
    x2 = np.minimum(whole[:, 2], width)
    y2 = np.minimum(whole[:, 3], height)
    usable = (x2 > x1) & (y2 > y1)
    corners = (x1[usable], y1[usable], x2[usable], y2[usable])
    return _area(table, owners[usable], corners, (size, size)), usable


def _nms_min(boxes: np.ndarray, scores: np.ndarray, owners: np.ndarray, limit: float):
    """Non-maximum suppression by intersection over the smaller box, per photo (O-Net's)."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    b = boxes.astype(np.float64) + (owners.astype(np.float64) * (float(boxes.max()) + 1))[:, None]
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]) + 1
        h = np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]) + 1
        overlap = np.maximum(w, 0) * np.maximum(h, 0) / np.minimum(area[i], area[rest])
        order = rest[overlap <= limit]
    return np.asarray(keep, np.int64)


def _refine(
    onet: Net, table: np.ndarray, boxes: np.ndarray, owners: np.ndarray, stages: Stages
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """O-Net on R-Net's windows: the boxes it keeps, moved by its offsets, with its
    score (K, 5), their owners, and their five landmarks (K, 5, 2)."""
    crops, usable = _windows(table, boxes, owners, 48)
    boxes, owners = boxes[usable], owners[usable]
    if len(crops):
        offsets, marks, probs = onet(crops)
    else:
        offsets, marks, probs = np.zeros((0, 4)), np.zeros((0, 10)), np.zeros((0, 2))
    passed = probs[:, 1] > stages.thresholds[2]
    boxes = np.concatenate([boxes[passed, :4], probs[passed, 1:2]], axis=1)
    owners, offsets, marks = owners[passed], offsets[passed], marks[passed]
    width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    xs = width * marks[:, :5] + boxes[:, 0:1] - 1
    ys = height * marks[:, 5:] + boxes[:, 1:2] - 1
    return _regress(boxes, offsets), owners, np.stack([xs, ys], axis=2)


def detect(
    nets: tuple[Net, Net, Net],
    photos: np.ndarray,
    stages: Stages = Stages(),
    levels: Executor | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Faces in a batch of photos of one size.

    Args:
        nets: P-Net, R-Net and O-Net (facenet-pytorch's, with their weights), each a
            callable from an (N, 3, H, W) float32 array to its outputs as arrays.
        photos: (N, H, W, 3) uint8 RGB.
        stages: the pyramid and thresholds.
        levels: threads to run P-Net's pyramid levels on, or None for this one.

    Returns:
        Per photo, (boxes (K, 5): x1 y1 x2 y2 and O-Net's score, points (K, 5, 2):
        the five landmarks as (x, y)), in the photo's pixels.
    """
    pnet, rnet, onet = nets
    count = len(photos)
    table = _integral(photos)
    boxes, owners = _proposals(pnet, table, stages, levels)
    keep = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
    boxes, owners = boxes[keep], owners[keep]
    sides = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    moved = boxes[:, :4] + boxes[:, 5:9] * sides
    boxes = _square(np.concatenate([moved, boxes[:, 4:5]], axis=1))
    points = np.zeros((0, 5, 2), np.float32)
    usual = np.zeros(0, bool)

    if len(boxes):
        crops, usable = _windows(table, boxes, owners, 24)
        boxes, owners = boxes[usable], owners[usable]
        offsets, probs = rnet(crops) if len(crops) else (np.zeros((0, 4)), np.zeros((0, 2)))
        threshold = np.full(len(boxes), stages.thresholds[1])
        if stages.cut_threshold is not None:
            height, width = table.shape[1] - 1, table.shape[2] - 1
            x1, y1, x2, y2 = boxes[:, :4].T
            threshold[(x1 < 0) | (y1 < 0) | (x2 > width) | (y2 > height)] = stages.cut_threshold
        passed = probs[:, 1] > threshold
        boxes = np.concatenate([boxes[passed, :4], probs[passed, 1:2]], axis=1)
        owners, offsets = owners[passed], offsets[passed]
        # NMS keeps the higher scores first: a window that passed only the lower
        # threshold never removes one that passed the usual one.
        keep = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
        usual = boxes[keep, 4] > stages.thresholds[1]
        boxes = _square(_regress(boxes[keep], offsets[keep]))
        owners = owners[keep]

    if len(boxes):
        second, second_owners = boxes[~usual], owners[~usual]
        boxes, owners, points = _refine(onet, table, boxes[usual], owners[usual], stages)
        keep = _nms_min(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes, owners, points = boxes[keep], owners[keep], points[keep]
        if len(second):
            found = _refine(onet, table, second, second_owners, stages)
            boxes, owners, points = (
                np.concatenate(pair) for pair in zip((boxes, owners, points), found, strict=True)
            )
            # The usual faces come first (scores are at most 1): they stay as they
            # were, and each second look that overlaps one goes.
            first = np.arange(len(boxes)) < len(keep)
            keep = _nms_min(boxes[:, :4], boxes[:, 4] + first, owners, 0.7)
            boxes, owners, points = boxes[keep], owners[keep], points[keep]

    return [
        (boxes[owners == i].astype(np.float64), points[owners == i].astype(np.float64))
        for i in range(count)
    ]
