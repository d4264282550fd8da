"""Fitting the celebrity head: early stopping on validation loss, optional class balancing."""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from engine.classifier import Head
from engine.embedders import normalise


def centroids_of(vectors: np.ndarray, targets: np.ndarray, classes: int) -> np.ndarray:
    means = np.stack([vectors[targets == k].mean(axis=0) for k in range(classes)])
    return normalise(means).astype(np.float32)


def fit(
    args: argparse.Namespace,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    classes: int,
    device: torch.device,
) -> tuple[Head, list[dict[str, float]], int]:
    """Train a head with early stopping on validation loss.

    Returns:
        The head at its best epoch (on the CPU), the per-epoch history, and that epoch.
    """
    torch.manual_seed(args.seed)
    threads = torch.get_num_threads()
    # A head this small runs slower on several threads than on one.
    torch.set_num_threads(1)
    try:
        return _fit(args, train, val, classes, device)
    finally:
        torch.set_num_threads(threads)


def _fit(
    args: argparse.Namespace,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    classes: int,
    device: torch.device,
) -> tuple[Head, list[dict[str, float]], int]:
    x, y = (torch.from_numpy(a).to(device) for a in train)
    vx, vy = (torch.from_numpy(a).to(device) for a in val)
    counts = torch.bincount(y, minlength=classes).clamp(min=1).float()
    weights = (len(y) / (classes * counts)) if args.balance == "loss" else None
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    head = Head(x.shape[1], classes, hidden=args.hidden, dropout=args.dropout).to(device)
    optimiser = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sampling = (1 / counts)[y] if args.balance == "sampling" else None
    best = (float("inf"), 0, copy.deepcopy(head.state_dict()))
    history: list[dict[str, float]] = []
    bar = tqdm(range(1, args.epochs + 1), desc="training", unit="epoch", disable=args.quiet)
    for epoch in bar:
        train_loss = _epoch(head, optimiser, loss_fn, x, y, args.batch, sampling)
        val_loss, val_top1 = _validate(head, vx, vy)
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(train_loss, 6),
                "val_loss": round(val_loss, 6),
                "val_top1": round(val_top1, 5),
            }
        )
        bar.set_postfix(val_loss=f"{val_loss:.4f}", val_top1=f"{val_top1:.2%}")
        if val_loss < best[0] - 1e-5:
            best = (val_loss, epoch, copy.deepcopy(head.state_dict()))
        elif epoch - best[1] >= args.patience:
            break
    head.load_state_dict(best[2])
    return head.cpu().eval(), history, best[1]


def _epoch(
    head: Head,
    optimiser: torch.optim.Optimizer,
    loss_fn: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch: int,
    sampling: torch.Tensor | None,
) -> float:
    """One pass over the training rows, shuffled, or drawn class-balanced with ``sampling``."""
    head.train()
    if sampling is None:
        order = torch.randperm(len(y), device=y.device)
    else:
        order = torch.multinomial(sampling, len(y), replacement=True)
    total = 0.0
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        optimiser.zero_grad()
        loss = loss_fn(head(x[rows]), y[rows])
        loss.backward()
        optimiser.step()
        total += loss.item() * len(rows)
    return total / len(order)


@torch.inference_mode()
def _validate(head: Head, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    head.eval()
    logits = head(x)
    loss = float(nn.functional.cross_entropy(logits, y))
    return loss, float((logits.argmax(dim=1) == y).float().mean())


def similarity_scale(
    centroids: np.ndarray, vectors: np.ndarray, targets: np.ndarray
) -> dict[str, float]:
    """Where held-out photos fall against the class centroids, for the bot's resemblance score.

    ``high`` is the median similarity of a photo to its own person's centroid,
    ``low`` the median similarity to other people's: a resemblance of 100% and 0%.
    """
    similarities = vectors @ centroids.T
    own = np.zeros_like(similarities, dtype=bool)
    own[np.arange(len(targets)), targets] = True
    return {
        "low": round(float(np.median(similarities[~own])), 4),
        "high": round(float(np.median(similarities[own])), 4),
    }
