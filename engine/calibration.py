"""Match thresholds per embedder: read from the calibration file, overridable by settings."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from engine.config import Settings
from engine.gallery import MatchPolicy

log = logging.getLogger(__name__)

# Used only when the calibration file lacks the embedder; `python -m training
# calibrate` replaces them with measured values. facenet's is the prototype's.
FALLBACK = {"dlib": MatchPolicy(0.93, 0.0), "facenet": MatchPolicy(0.65, 0.05)}


def read(path: Path) -> dict[str, dict[str, object]]:
    """The calibration file's content, {} when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable calibration file %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def policy(settings: Settings, embedder: str) -> MatchPolicy:
    """The match policy for ``embedder``: calibrated, then overridden by the settings."""
    entry = read(settings.calibration).get(embedder)
    if isinstance(entry, dict) and "threshold" in entry:
        base = MatchPolicy(
            float(entry["threshold"]),  # type: ignore[arg-type]
            float(entry.get("margin", 0.0)),  # type: ignore[arg-type]
            str(entry.get("aggregate", "max")),
            tuple((float(f), float(t)) for f, t in entry.get("tail", [])),  # type: ignore[union-attr]
            float(entry.get("open_far", 0.01)),  # type: ignore[arg-type]
        )
    else:
        base = FALLBACK.get(embedder, MatchPolicy(0.9, 0.0))
        log.warning("no calibration for %s in %s; using %s", embedder, settings.calibration, base)
    if settings.match_threshold is not None:  # a fixed threshold, whatever the gallery
        base = dataclasses.replace(base, threshold=settings.match_threshold, tail=())
    if settings.match_margin is not None:
        base = dataclasses.replace(base, margin=settings.match_margin)
    return base
