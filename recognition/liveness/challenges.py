"""Liveness challenges handed out as signed tokens, each good for one try everywhere the installation runs.

A token names the moves asked for, in their order, when they were asked and a random nonce, signed with
a key the server was given (so it keeps no record of what it asked). Redeeming it spends the nonce in
the store's spent ledger until the token would have expired anyway: a second try with the same token is
refused by this server after a restart, and by every other server on the same database.

The moves are drawn at random from the allowed ones, never the same move twice in a row: with three
moves and two steps, six orders, so one recording of a person making two moves answers one challenge
in six; with only left and right, one in two. A recording of more moves, sent whole, answers none (the
judge refuses a move that was not asked); cut to the order asked, a long one answers any.
"""
from __future__ import annotations

import secrets
import time
from typing import Callable, Protocol, Sequence

from itsdangerous import BadSignature, URLSafeSerializer

from recognition.liveness.judge import MOVES, Move

LIFETIME = 30.0  # seconds from the question to the burst's arrival: enough to read it, move and upload
# A tried nonce is remembered this much past its token's end: servers sharing a database whose clocks
# differ (the fastest one deletes expired tags) still all refuse it while any of them takes the token.
CLOCK_SKEW = 120.0
STEPS = 2  # moves per challenge (--liveness-steps)
MAX_STEPS = 4  # each adds a move's worth of frames to a burst (and of time to a sign-in)


class ChallengeRefused(Exception):
    """The token is forged, expired or used; the message says which, for the person."""


class Ledger(Protocol):
    """Where one-time tags are spent (the store: recognition/store/interface.py)."""

    def spend(self, tag: bytes, until: float, *, forgettable: bool = False) -> bool: ...

    def is_spent(self, tag: bytes) -> bool: ...


class ChallengeBook:
    """secret signs the tokens; ledger remembers the nonces tried; moves are the allowed ones and steps
    how many a challenge asks for (more steps: one recording answers fewer challenges, but the person
    moves longer and a burst holds more frames)."""

    def __init__(self, secret: bytes, moves: Sequence[str], ledger: Ledger, *, steps: int = STEPS,
                 lifetime: float = LIFETIME, clock: Callable[[], float] = time.time) -> None:
        unknown = [move for move in moves if move not in MOVES]
        if unknown or not moves:
            raise ValueError(f"the moves are some of {', '.join(MOVES)}, not {list(moves)}")
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"a challenge asks for 1 to {MAX_STEPS} moves, not {steps}")
        if steps > 1 and len(set(moves)) < 2:
            raise ValueError(f"{steps} moves in a row need at least two kinds of move to choose from, "
                             f"not {list(moves)}")
        self.moves = tuple(dict.fromkeys(moves))
        self.steps = steps
        self.lifetime = lifetime
        self._serializer = URLSafeSerializer(secret, salt="faceapp liveness challenge")
        self._ledger = ledger
        self._clock = clock

    def issue(self) -> tuple[str, tuple[Move, ...]]:
        """A new challenge: its token, and the moves it asks for, in order (picked at random)."""
        names: list[str] = []
        for _ in range(self.steps):
            names.append(secrets.choice([m for m in self.moves if not names or m != names[-1]]))
        token = self._serializer.dumps({"moves": names, "at": self._clock(), "nonce": secrets.token_urlsafe(16)})
        return token, tuple(MOVES[name] for name in names)

    def redeem(self, token: str) -> tuple[Move, ...]:
        """The moves the token asks for; ChallengeRefused unless it is ours, fresh and tried nowhere yet.
        The store's StoreUnavailable passes through: with the database away, no challenge can be spent."""
        try:
            claim = self._serializer.loads(token or "")
            names, issued, nonce = claim["moves"], float(claim["at"]), str(claim["nonce"])
            moves = tuple(MOVES[name] for name in names)
        except (BadSignature, KeyError, TypeError, ValueError):
            raise ChallengeRefused("the challenge is not one this server asked: start again")
        now = self._clock()
        if not moves or not issued - CLOCK_SKEW <= now <= issued + self.lifetime:  # another server may run ahead
            raise ChallengeRefused(f"the challenge expired (it lasts {self.lifetime:.0f} s): start again")
        if not self._ledger.spend(b"challenge:" + nonce.encode(), issued + self.lifetime + CLOCK_SKEW):
            raise ChallengeRefused("this challenge was already tried: start again")
        return moves
