"""The group lookalike game's rules and records: rounds, entries, ranking, points, leaderboard."""

from __future__ import annotations

import dataclasses
import difflib
import io
import logging
import random
from collections.abc import Callable, Collection, Sequence

from PIL import Image

from engine import cards, render
from engine.celebrities import Celebrity, display_name, folded
from engine.errors import ModelUnavailable, UnknownCelebrity
from engine.registry import Person

log = logging.getLogger(__name__)

# Wall-clock seconds (time.time): rounds are stored with their end time and must
# still end on time, or be ended late, after the process restarts.
Clock = Callable[[], float]
PlayerKey = tuple[str, str]  # (platform, user_id)

# A round ended this long after its time is announced as ended while the bot was away.
LATE_SECONDS = 5.0


# --- results ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Round:
    """One round in one chat (``scope``). Times are wall-clock seconds.

    Attributes:
        celebrity: the class label ("Tony_Blair"); ``celebrity_name`` is its display form.
        started_by: the user id of whoever started it, on ``platform``; None once forgotten.
        language: the starter's language, used for what the bot announces on its own.
        outcome: None while it runs, then "time" or "stopped".
    """

    id: int
    scope: str
    platform: str
    celebrity: str
    started_by: str | None
    language: str | None
    started_at: float
    ends_at: float
    ended_at: float | None = None
    outcome: str | None = None

    @property
    def celebrity_name(self) -> str:
        return display_name(self.celebrity)

    def remaining(self, now: float) -> float:
        return max(0.0, self.ends_at - now)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A player's photo that counts in a round: their best one so far.

    Attributes:
        similarity: the cosine similarity to the celebrity: what ranks players.
        score: its resemblance, 0 to 100, as players are shown it.
        photos: how many photos with a face the player sent in this round.
        entered_at: when the counted photo arrived.
    """

    player: Person
    similarity: float
    score: int
    photos: int
    entered_at: float

    @property
    def key(self) -> PlayerKey:
        return (self.player.platform, self.player.user_id)

    @property
    def closeness(self) -> float:
        """What ranks entries: the similarity, rounded so that the same face sent twice
        (re-encoded on the way) is a tie, and two different faces practically never are."""
        return round(self.similarity, 4)


@dataclasses.dataclass(frozen=True)
class EntryResult:
    """What one photo did: its own score, whether it is now the one that counts, and the
    player's place so far among ``players``."""

    entry: Entry
    score: int
    best: bool
    place: int
    players: int


@dataclasses.dataclass(frozen=True)
class Standing:
    """A player's place (ties share one) and the points it earned."""

    place: int
    entry: Entry
    points: int


@dataclasses.dataclass(frozen=True)
class RoundResult:
    """A finished round.

    Attributes:
        standings: best first; players equally close share a place.
        counted: enough players took part for points and a winner.
        faces: the counted photos' face tiles, by player, for the collage; only
            kept in memory, so a round ended after a restart has none.
    """

    round: Round
    standings: tuple[Standing, ...]
    counted: bool
    min_players: int
    faces: dict[PlayerKey, bytes] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def winners(self) -> tuple[Standing, ...]:
        return tuple(s for s in self.standings if s.place == 1) if self.counted else ()

    @property
    def late(self) -> bool:
        """It ended well after its time: the bot was not running when it should have."""
        ended = self.round.ended_at or self.round.ends_at
        return ended - self.round.ends_at > LATE_SECONDS


@dataclasses.dataclass(frozen=True)
class Leader:
    """A row of a chat's leaderboard: points over every counted round."""

    place: int
    player: Person
    points: int
    wins: int
    rounds: int


# --- pure rules --------------------------------------------------------------------


def rank(entries: Sequence[Entry], counted: bool = True) -> tuple[Standing, ...]:
    """Standings from entries: by closeness to the celebrity, ties sharing a place ("1, 1, 3").

    Players are ranked by the similarity itself, not by the rounded and clamped
    score they see: with the default scale about half of all faces show 0% for a
    given celebrity, and they are still told apart. A player earns one point for
    playing and one for each player they beat, so a tie gives both the same
    points. Nobody earns any when ``counted`` is False (too few players). Among
    ties, the earlier photo is listed first.
    """
    ordered = sorted(entries, key=lambda e: (-e.closeness, e.entered_at))
    near = [e.closeness for e in ordered]
    return tuple(
        Standing(
            place=1 + sum(c > e.closeness for c in near),
            entry=e,
            points=1 + sum(c < e.closeness for c in near) if counted else 0,
        )
        for e in ordered
    )


def _normal(name: str) -> str:
    """A name as people type it: any case, accents optional, underscores as spaces."""
    return " ".join(folded(display_name(name)).split())


def choose_celebrity(
    celebrities: Sequence[Celebrity],
    wanted: str,
    rng: random.Random,
    fields: Collection[str] = (),
) -> Celebrity:
    """The celebrity of a round: the one ``wanted`` names (label or display name, any
    case, accents optional, or a part of one name only), else, when it is empty, one at
    random among the well-known people of ``fields`` (every field when empty).

    Raises:
        ModelUnavailable: no celebrities, or none in ``fields``.
        UnknownCelebrity: none, or several, fit ``wanted``; it offers up to 5 names.
    """
    if not wanted.strip():
        pool = [c for c in celebrities if not fields or c.field in fields]
        known = [c for c in pool if c.well_known]
        if not pool:
            raise ModelUnavailable()
        return rng.choice(known or pool)
    if not celebrities:
        raise ModelUnavailable()
    target = _normal(wanted)
    names: dict[str, Celebrity] = {}
    for celebrity in celebrities:
        names.setdefault(_normal(celebrity.name), celebrity)
        names.setdefault(_normal(celebrity.label), celebrity)
    if target in names:
        return names[target]
    partial = list({id(c): c for n, c in names.items() if target in n}.values())
    if len(partial) == 1:
        return partial[0]
    close = difflib.get_close_matches(target, list(names), n=5, cutoff=0.5)
    options = partial or list({id(names[n]): names[n] for n in close}.values())
    if not options:
        known = [c for c in celebrities if c.well_known] or list(celebrities)
        options = rng.sample(known, min(3, len(known)))
    raise UnknownCelebrity(name=wanted.strip(), options=", ".join(o.name for o in options[:5]))


def podium(result: RoundResult, reference: bytes | None, top: int = 3) -> bytes | None:
    """The collage of a finished round: the first ``top`` players' faces, each beside the
    celebrity's reference picture (JPEG bytes, as `Engine.reference_photo` gives; a name
    card is drawn when it is None or unreadable), as JPEG; None when no face tile is at hand."""
    picture = None
    if reference:
        try:
            picture = Image.open(io.BytesIO(reference))
            picture.load()
        except (OSError, ValueError):  # the card below answers as well
            picture = None
    if picture is None:
        picture = cards.card(result.round.celebrity_name)
    rows = []
    for standing in result.standings[:top]:
        tile = result.faces.get(standing.entry.key)
        if tile is not None:
            caption = (
                f"{standing.place}. {standing.entry.player.display_name} {standing.entry.score}%"
            )
            rows.append((Image.open(io.BytesIO(tile)), picture, caption))
    return render.to_jpeg(render.collage(rows)) if rows else None
