"""Liveness challenges handed out as signed tokens: the server keeps no record of what it asked.

A token names the movement, when it was asked and a random nonce, signed with a key derived from the
installation secret. It is good for one try within LIFETIME seconds: the nonces tried are remembered
(in memory, until their token would have expired anyway), so a burst that once passed cannot be sent
again.
"""
from __future__ import annotations

import secrets
import threading
import time
from typing import Callable, Sequence

from itsdangerous import BadSignature, URLSafeSerializer

from recognition.liveness.judge import MOVES, Move

LIFETIME = 30.0  # seconds from the question to the burst's arrival: enough to read it, turn and upload


class ChallengeRefused(Exception):
    """The token is forged, expired or used; the message says which, for the person."""


class ChallengeBook:
    def __init__(self, secret: bytes, moves: Sequence[str], *, lifetime: float = LIFETIME,
                 clock: Callable[[], float] = time.time) -> None:
        unknown = [move for move in moves if move not in MOVES]
        if unknown or not moves:
            raise ValueError(f"the moves are some of {', '.join(MOVES)}, not {list(moves)}")
        self.moves = tuple(moves)
        self.lifetime = lifetime
        self._serializer = URLSafeSerializer(secret, salt="faceapp liveness challenge")
        self._clock = clock
        self._tried: dict[str, float] = {}  # nonce -> when its token expires
        self._lock = threading.Lock()

    def issue(self) -> tuple[str, Move]:
        """A new challenge: its token, and the movement it asks for (picked at random)."""
        move = MOVES[secrets.choice(self.moves)]
        token = self._serializer.dumps({"move": move.name, "at": self._clock(), "nonce": secrets.token_urlsafe(16)})
        return token, move

    def redeem(self, token: str) -> Move:
        """The movement the token asks for; ChallengeRefused unless it is ours, fresh and not tried yet."""
        try:
            claim = self._serializer.loads(token or "")
            move, issued, nonce = MOVES[claim["move"]], float(claim["at"]), str(claim["nonce"])
        except (BadSignature, KeyError, TypeError, ValueError):
            raise ChallengeRefused("the challenge is not one this server asked: start again")
        now = self._clock()
        if not issued - 1.0 <= now <= issued + self.lifetime:
            raise ChallengeRefused(f"the challenge expired (it lasts {self.lifetime:.0f} s): start again")
        with self._lock:
            self._tried = {seen: until for seen, until in self._tried.items() if until > now}
            if nonce in self._tried:
                raise ChallengeRefused("this challenge was already tried: start again")
            self._tried[nonce] = issued + self.lifetime
        return move
