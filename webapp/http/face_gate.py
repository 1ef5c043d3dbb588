"""What the sign-up and sign-in pages share between requests: the challenges, the bursts spent, the
failure counts, the landmark model, and the rules that tie them together (which limits apply, what
counts as a failure)."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time
from typing import Callable, Optional, Sequence

from flask import request

from recognition.liveness.challenges import STEPS, ChallengeBook, Ledger
from recognition.liveness.pose import HeadPoseModel, shared_pose_model
from webapp.http.errors import ApiError
from webapp.http.rate_limit import AttemptLimiter

WINDOW = 300.0  # seconds over which failures are counted
CLIENT_FAILURES = 20  # failed sign-ins per client (address) in the window: 4 a minute, far above a person's retries
CHALLENGES_ASKED = 30  # challenges per client in the window: one per try, with room for reloads
PERSON_FAILURES = 10  # per person tried (by email, or by the face shown): their own failed challenges count too
# How long the exact frames of a burst are refused after they were sent once (their digest, spent in the
# store). Any change of a byte makes other frames, so this stops a request captured and sent again as it
# is, not a recording re-encoded; a month covers every such replay one could still hope to slip through.
BURST_KEPT = 30 * 86400.0
log = logging.getLogger(__name__)


class FaceGate:
    """secret signs the challenges; ledger (the store) spends their nonces and the bursts' digests, so
    each is good once on every server of the installation; steps: moves per challenge."""

    def __init__(self, secret: bytes, *, ledger: Ledger, liveness: str = "challenge",
                 moves: Sequence[str] = ("left", "right", "up"), steps: int = STEPS,
                 pose_model: Optional[HeadPoseModel] = None, clock: Callable[[], float] = time.time) -> None:
        if liveness not in ("challenge", "off"):
            raise ValueError(f"liveness is 'challenge' or 'off', not {liveness!r}")
        self.liveness = liveness
        self.challenges = ChallengeBook(hmac.new(secret, b"faceapp challenges", hashlib.sha256).digest(), moves,
                                        ledger, steps=steps, clock=clock)
        self._ledger = ledger
        self._clock = clock
        self.clients = AttemptLimiter(CLIENT_FAILURES, WINDOW)
        self.people = AttemptLimiter(PERSON_FAILURES, WINDOW)
        self.asked = AttemptLimiter(CHALLENGES_ASKED, WINDOW)
        self._poses = pose_model
        self._lock = threading.Lock()
        self._counting = threading.Lock()  # a check and its count as one step: requests sent at once all count

    @property
    def challenged(self) -> bool:
        return self.liveness == "challenge"

    def spend_burst(self, digest: str) -> bool:
        """Record that these exact frames were sent (their digest): False if they were, anywhere. A full
        file ledger forgets digests before it forgets a signed-out session."""
        return self._ledger.spend(b"burst:" + digest.encode(), self._clock() + BURST_KEPT, forgettable=True)

    def burst_spent(self, digest: str) -> bool:
        """Whether these exact frames were sent before: a look before the work of reading them (the
        spend after it is what counts, for two sends at once)."""
        return self._ledger.is_spent(b"burst:" + digest.encode())

    def poses(self) -> HeadPoseModel:
        """dlib's 68-point model, loaded by the first challenge that needs it (once per process)."""
        with self._lock:
            if self._poses is None:
                self._poses = shared_pose_model()  # the one the avatars and filters use too
            return self._poses

    # Keys: the client's address (an IPv6 client by its /64, which one household or host usually has
    # whole), and the person tried, by the keyed hash of an email (whether or not anyone registered it:
    # a 429 says nothing about the email) or by the identity a face matched.
    @staticmethod
    def client_key() -> str:
        address = request.remote_addr or "unknown"
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return "client:" + address
        if parsed.version == 6:
            if parsed.ipv4_mapped is not None:
                return "client:" + str(parsed.ipv4_mapped)
            return "client:" + str(ipaddress.ip_network(f"{parsed}/64", strict=False))
        return "client:" + str(parsed)

    def begin(self, *person_keys: Optional[str]) -> list[tuple[AttemptLimiter, str]]:
        """Start a sign-in (or sign-up) attempt: 429 with Retry-After when this client, or any of the
        persons named, failed too often lately; else the attempt is counted now, and forgiven() if it
        succeeds (so attempts sent all at once cannot slip past the count)."""
        keys = [(self.clients, self.client_key())] + [(self.people, key) for key in person_keys if key]
        with self._counting:
            self._refuse_if_limited(keys)
            for limiter, key in keys:
                limiter.failed(key)
        return keys

    def check(self, *person_keys: Optional[str]) -> None:
        """429 when any of the persons named failed too often lately (nothing is counted)."""
        self._refuse_if_limited([(self.people, key) for key in person_keys if key])

    def count(self, *person_keys: Optional[str]) -> None:
        """A failure against persons found out only later (the face a held-up picture showed)."""
        for key in person_keys:
            if key:
                self.people.failed(key)

    def forgive(self, attempt: list[tuple[AttemptLimiter, str]]) -> None:
        for limiter, key in attempt:
            limiter.forgive(key)

    def ask(self):
        """A new challenge for this client: 429 when it asked for too many lately (asking again and
        again until the movement it has a recording of comes up)."""
        with self._counting:
            self._refuse_if_limited([(self.asked, self.client_key())], "challenges asked for")
            self.asked.failed(self.client_key())
        return self.challenges.issue()

    @staticmethod
    def _refuse_if_limited(keys, what: str = "failed sign-ins") -> None:
        waits = [limiter.retry_after(key) for limiter, key in keys]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            log.info("sign-in refused for %s s to %s", seconds, request.remote_addr)
            raise ApiError(429, f"too many {what}: try again in {seconds} s", headers={"Retry-After": str(seconds)},
                           retry_after=seconds)
