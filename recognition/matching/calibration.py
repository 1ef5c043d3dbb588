"""How close a face must be to a person who has several vectors to be named them.

A person is scored by their closest vector, so every vector is one more chance for a stranger to come
close by luck: against 10 vectors a stranger is about 10 times as likely to clear a fixed threshold as
against one. Only distinct looks count (store/gallery.py distinct_looks): vectors 0.97 or more alike
give a stranger one chance between them, not two. The bar therefore rises with the number of vectors, so
that the chance a stranger is named as a given person stays what it is at one vector, however many photos
that person has.

The model: a stranger's similarity to one vector is roughly normal (mean, spread); at the threshold t
its tail is p = 1 - Φ((t - mean) / spread); the best of k vectors clears t' with about k times the
tail at t', so t' is where that tail is p / k. Known people lose little: the more vectors a person
has, the closer their best one is to a new photo of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

MAX_BAR = 0.995  # never demand more than this, whatever the vector count


@dataclass(frozen=True)
class Impostors:
    """Cosine similarity of faces of different people, as a normal distribution."""

    mean: float
    spread: float


# Dlib: 3,672 pairs of different people among the fixture photos and their camera-like variants
# (bench/compare_accuracy.py's variants): mean 0.823, standard deviation 0.032.
IMPOSTORS = {"Dlib": Impostors(0.823, 0.032)}
ASSUMED_Z = 3.5  # for a model not measured: its threshold taken to sit 3.5 spreads above strangers


def impostors_of(model: str, threshold: float) -> Impostors:
    if model in IMPOSTORS:
        return IMPOSTORS[model]
    spread = (1.0 - threshold) / 4.0  # an assumption, stated in the README, until the model is measured
    return Impostors(threshold - ASSUMED_Z * spread, spread)


@lru_cache(maxsize=4096)
def required_similarity(threshold: float, vectors: int, mean: float, spread: float) -> float:
    """The similarity a face needs to the closest of a person's `vectors` vectors to be named them."""
    if vectors <= 1 or spread <= 0:
        return threshold
    normal = NormalDist()
    tail = 1.0 - normal.cdf((threshold - mean) / spread)
    if tail <= 0.0:
        return threshold
    return min(MAX_BAR, max(threshold, mean + spread * normal.inv_cdf(1.0 - tail / vectors)))
