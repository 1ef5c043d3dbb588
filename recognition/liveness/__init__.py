"""Liveness by an active challenge: a head movement asked at random, checked with landmarks in a burst of frames."""
