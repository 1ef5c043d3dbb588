"""Deciding who a track is from its recent sightings, weighted by their quality, with hysteresis.

A single frame is a poor witness: a blink, motion blur or a turned head lowers one similarity below
the threshold, and the name would flicker to "unknown". A track is named once the sightings that name
someone outweigh the rest; it keeps the name through a contrary frame or two, and loses it only on
sustained contrary evidence. Only sightings that matched (at the matcher's threshold, "not this
person" honoured) ever vote for a name, so a stranger's track is never named.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from recognition.live.tracker import Track
from recognition.store.interface import Match


@dataclass(frozen=True)
class Voting:
    """name_after: the summed quality of sightings naming one person before the track takes the name
    (higher: surer names, later; a sharp frontal face has quality near 1, so one good view can be
    enough). drop_after: the summed quality of the latest sightings that do not name the person
    before the track lets the name go (higher: steadier names, slower to notice a swap)."""

    name_after: float = 0.5
    drop_after: float = 1.2
    min_quality: float = 0.05  # views poorer than this (a blur, a sliver) are not evidence either way

    def decide(self, track: Track) -> Optional[Match]:
        """The identity the track's sightings support. A name that is dropped takes with it the views
        that gave it (they were of the face that held the track before), so they do not vote again."""
        sightings = [s for s in track.sightings if s.quality >= self.min_quality]
        current = track.identity
        if current is not None:
            since = _after_last(sightings, current.identity_hash)
            if not self._contradicted(current, since):
                return self._freshest(current, sightings)
            kept = {id(s) for s in since}
            track.sightings = type(track.sightings)((s for s in track.sightings if id(s) in kept),
                                                    maxlen=track.sightings.maxlen)
            sightings = since
        best, best_weight = None, 0.0
        for identity_hash in {s.match.identity_hash for s in sightings if s.match is not None}:
            first = next(i for i, s in enumerate(sightings) if s.match and s.match.identity_hash == identity_hash)
            weight = sum(s.quality for s in sightings if s.match and s.match.identity_hash == identity_hash)
            # Views before this person's first one may be of whoever held the track before.
            against = sum(s.quality for s in sightings[first:]
                          if s.match is None or s.match.identity_hash != identity_hash)
            if weight >= self.name_after and weight > against and weight > best_weight:
                best, best_weight = identity_hash, weight
        return self._freshest(Match(best, None, 0.0), sightings) if best else None

    def _contradicted(self, current: Match, since: Sequence) -> bool:
        """The sightings since the last one that named current: one naming somebody else (a different
        person now holds the track), or enough others (drop_after) that name nobody."""
        if any(s.match is not None for s in since):
            return True
        return sum(s.quality for s in since) >= self.drop_after

    @staticmethod
    def _freshest(current: Match, sightings: Sequence) -> Match:
        """current with the name and similarity of its latest sighting naming it (names change by rename)."""
        for sighting in reversed(sightings):
            if sighting.match is not None and sighting.match.identity_hash == current.identity_hash:
                return sighting.match
        return current


def _after_last(sightings: Sequence, identity_hash: str) -> list:
    for index in range(len(sightings) - 1, -1, -1):
        match = sightings[index].match
        if match is not None and match.identity_hash == identity_hash:
            return list(sightings[index + 1 :])
    return list(sightings)


def keep_unique(tracks: Sequence[Track], decided: dict[int, Optional[Match]]) -> dict[int, Optional[Match]]:
    """Two tracks never share an identity: the one that held it already keeps it, else the closer match."""
    holders: dict[str, tuple[Track, Match]] = {}  # identity -> the track holding it, and its match
    for track in tracks:
        match = decided.get(track.id)
        if match is None:
            continue
        rival = holders.get(match.identity_hash)
        if rival is None or _stronger(track, match, *rival):
            holders[match.identity_hash] = (track, match)
    winners = {holder.id for holder, _ in holders.values()}
    return {track_id: (match if track_id in winners else None) for track_id, match in decided.items()}


def _stronger(track: Track, match: Match, rival: Track, rival_match: Match) -> bool:
    held, rival_held = track.identity is not None, rival.identity is not None
    if held != rival_held:
        return track.identity is not None and track.identity.identity_hash == match.identity_hash
    return match.similarity > rival_match.similarity
