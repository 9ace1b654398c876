"""What discovery knows before it starts (Settled, from the job's files) and what it found
(Found), shared by the reader of Prow and the keeper of the job's state."""

from __future__ import annotations

from dataclasses import dataclass, field

from crawler.core.builds import BuildRef

# A build deck still shows as running after this long has been abandoned (its pod died and no
# finished.json will come): it no longer keeps the history walk going.
PENDING_GIVE_UP_SECONDS = 48 * 3600


@dataclass(frozen=True)
class FeedTrust:
    """What the job's files say of deck's feed for this job: `checked` once its newest page
    was found whole in a readable feed that lists the job; `blind` (the reason) once the page
    showed a build the feed should have held and did not. Blind wins, for good."""

    checked: bool = False
    blind: str = ""


@dataclass(frozen=True)
class Settled:
    """What the job's files say before discovery: which builds need no more work."""

    tracked: frozenset[int] = frozenset()
    given_up: frozenset[int] = frozenset()
    floor: int = 0  # every build below it is settled (0: look at the whole history)
    backlog: int = 0  # finished builds the last run left unsettled
    distrusted: tuple[str, ...] = ()  # buckets whose listing was not trusted for this job
    seen_at: float | None = None  # when a run last saw the job's whole unsettled history
    feed: FeedTrust = field(default_factory=FeedTrust)
    running: tuple[BuildRef, ...] = ()  # unsettled builds that were running at the last run
    fresh: bool = False  # the floor was set aside (--retry-failed, a horizon moved back)

    def __contains__(self, key: int) -> bool:
        return key < self.floor or key in self.tracked or key in self.given_up


@dataclass(frozen=True)
class ListingVerdict:
    """Whether a listing of these buckets can stand in for deck's pages for this job."""

    trusted: bool
    buckets: tuple[str, ...]
    reason: str = ""


@dataclass
class Found:
    """What discovery found: builds to process (oldest first, at most the limit) and every
    build it saw that is still unsettled (those, the ones left for later, running ones)."""

    candidates: list[BuildRef] = field(default_factory=list)
    unsettled: set[int] = field(default_factory=set)
    running_ids: set[int] = field(default_factory=set)  # unsettled because they still run
    complete: bool = False  # reached the floor, the horizon or the end of the history
    newest: int | None = None
    via: str = "deck"
    found: int = 0
    new: int = 0
    running: int = 0
    deferred: int = 0
    pages: int = 0
    problems: list[str] = field(default_factory=list)  # page entries that cannot be used
    notes: list[str] = field(default_factory=list)  # told to the user once
    listing: ListingVerdict | None = None  # None: no listing tried; the checkpoint keeps its own
    feed: FeedTrust | None = (
        None  # None: not checked against the feed; the checkpoint keeps its own
    )
    running_refs: list[BuildRef] = field(default_factory=list)  # the running_ids' folders
    error: str | None = None  # the walk broke off: what was found is still processed
