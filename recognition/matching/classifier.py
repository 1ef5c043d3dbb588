"""A classifier trained on the people who have several vectors, picked by cross-validation, with an
"unknown" cut-off calibrated on strangers.

Methods tried, as the field uses them:
- nearest: the matcher's own rule (the closest vector, at the threshold and its per-count bar): the
  baseline every other method is held to;
- knn: the k closest vectors vote; the class with most votes scores the mean similarity of its
  votes (face_recognition's k-NN example, with a similarity cut-off);
- softmax: multinomial logistic regression on the unit vectors (a linear model, like a linear SVM
  with probabilities), trained by gradient descent in numpy;
- dense: a small dense network (one hidden layer of 64 ReLU units, softmax out), the seed's choice,
  in numpy too: the server process never imports TensorFlow.

Strangers decide the cut-off: each person in turn is left out of training and their vectors are
scored as a stranger's. A method's cut-off is set so that it names no more of these strangers than
the matcher does (and none, when the matcher names none). Known people's accuracy is then measured
by k-fold cross-validation, every held-out vector scored with that cut-off (a wrong name and an
"unknown" both count as misses). The method with the best accuracy is kept; nearest wins ties.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from recognition.store.gallery import distinct_looks

METHODS = ("nearest", "knn", "softmax", "dense")
CLOSED_SET = ("softmax", "dense")  # give every face some class: their cut-off needs three people or more
MAX_CLOSED_SET = 200  # people: above this, training them (for each person left out) takes too long in a request
FOLDS = 5
K = 5
STRANGERS = 40  # people left out in turn to calibrate the cut-off (a sample, in a large gallery)
SOFTMAX_STEPS, SOFTMAX_RATE, SOFTMAX_DECAY, SOFTMAX_SCALE = 400, 0.5, 1e-3, 10.0
HIDDEN, DENSE_STEPS, DENSE_RATE = 64, 400, 0.3


class NotEnoughPeople(ValueError):
    """Training needs at least two people with two vectors each."""


@dataclass
class Model:
    """One fitted method: it scores every class for each query; cutoff decides known or unknown."""

    method: str
    classes: list[str]  # identity hashes, in class order
    vectors: np.ndarray  # training vectors (nearest, knn)
    labels: np.ndarray  # class of each training vector
    floors: np.ndarray  # each class's bar (the matcher's): its closest vector must reach it
    weights: Optional[np.ndarray] = None  # softmax (d + 1, classes)
    layers: Optional[tuple] = None  # dense: (hidden weights (d + 1, HIDDEN), output weights (HIDDEN + 1, classes))
    cutoff: float = 0.0

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """(queries, classes) scores: a similarity (nearest, knn) or a probability (softmax)."""
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        if self.method == "softmax":
            return _softmax(_features(queries) @ self.weights)
        if self.method == "dense":
            if self.layers is None:
                raise ValueError("a dense model without its layers cannot score")
            return _dense_forward(self.layers, queries)[1]
        similarity = queries @ self.vectors.T
        scores = np.full((len(queries), len(self.classes)), -1.0, np.float32)
        if self.method == "nearest":
            for label in range(len(self.classes)):
                scores[:, label] = similarity[:, self.labels == label].max(axis=1) - self.floors[label]
            return scores
        nearest = np.argsort(-similarity, axis=1)[:, :K]
        for row, columns in enumerate(nearest):
            votes = self.labels[columns]
            labels, counts = np.unique(votes, return_counts=True)
            for label in labels[counts == counts.max()]:  # the most votes win; their mean similarity scores
                scores[row, label] = similarity[row, columns[votes == label]].mean()
        return scores

    def predict(self, queries: np.ndarray) -> list[tuple[Optional[str], float]]:
        """(identity hash or None for unknown, score: 0 for a face under every bar) per query."""
        best, scores = self.best(queries)
        return [(self.classes[b] if score >= self.cutoff else None, float(score) if np.isfinite(score) else 0.0)
                for b, score in zip(best, scores)]

    def best(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query's best class and its score; -inf when that class's closest vector is under its bar."""
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        scores = self.scores(queries)
        best = scores.argmax(axis=1)
        similarity = queries @ self.vectors.T
        closest = np.array([similarity[i, self.labels == b].max() for i, b in enumerate(best)])
        return best, np.where(closest >= self.floors[best], scores[np.arange(len(best)), best], -np.inf)


@dataclass
class Report:
    method: str
    people: int
    vectors: int
    cv_accuracy: float
    unknown_rejection: float  # share of left-out people's vectors refused as unknown
    methods: dict = field(default_factory=dict)  # every method's figures, for the README and the bench

    def to_json(self) -> dict:
        return {"method": self.method, "people": int(self.people), "vectors": int(self.vectors),
                "cv_accuracy": round(float(self.cv_accuracy), 4),
                "unknown_rejection": round(float(self.unknown_rejection), 4),
                "methods": {name: {k: round(float(v), 4) for k, v in figures.items()}
                            for name, figures in self.methods.items()}}


def train(hashes: Sequence[str], vectors: Sequence[np.ndarray], bar_for, *, seed: int = 0) -> tuple[Model, Report]:
    """Train on people (hashes[i] has the rows vectors[i], at least two each); bar_for(count) is the
    matcher's similarity bar for a person with count vectors. No method names anyone whose closest
    vector is under that person's bar: a few people left out are too small a sample of strangers to
    trust alone, and more vectors must not mean more chances for a stranger here either. Returns the
    chosen model and its report."""
    kept = [(h, np.asarray(v, np.float32)) for h, v in zip(hashes, vectors) if len(v) >= 2]
    if len(kept) < 2:
        raise NotEnoughPeople("training needs at least two people with two or more vectors each "
                              "(add photos with POST /faces/<hash>/photos)")
    classes = [h for h, _ in kept]
    data = np.concatenate([v for _, v in kept])
    labels = np.concatenate([np.full(len(v), i) for i, (_, v) in enumerate(kept)])
    figures: dict[str, dict[str, float]] = {}  # method -> its cv_accuracy, named_strangers and cutoff
    # Softmax is closed-set: its cut-off needs at least two people left in when one is left out.
    closed_set = 3 <= len(classes) <= MAX_CLOSED_SET
    for method in METHODS if closed_set else tuple(m for m in METHODS if m not in CLOSED_SET):
        strangers = _stranger_scores(method, data, labels, len(classes), bar_for)
        # Scores of a named face are never negative (similarities over a bar, means, probabilities).
        cutoff = 0.0 if method == "nearest" else max(0.0, _cutoff(strangers, figures["nearest"]["named_strangers"]))
        named = float((strangers >= cutoff).mean())
        figures[method] = {"cv_accuracy": _cv_accuracy(method, data, labels, len(classes), bar_for, cutoff, seed),
                           "named_strangers": named, "cutoff": cutoff}
    chosen = max(figures, key=lambda m: (figures[m]["cv_accuracy"], m == "nearest"))
    model = _fit(chosen, data, labels, classes, bar_for)
    model.cutoff = figures[chosen]["cutoff"]
    report = Report(chosen, len(classes), len(data), figures[chosen]["cv_accuracy"],
                    1.0 - figures[chosen]["named_strangers"], figures)
    return model, report


def _fit(method: str, data: np.ndarray, labels: np.ndarray, classes: list, bar_for) -> Model:
    bars = np.array([bar_for(distinct_looks(data[labels == c])) for c in range(len(classes))], np.float32)
    model = Model(method, list(classes), data, labels, floors=bars)
    if method == "softmax":
        model.weights = _train_softmax(data, labels, len(classes))
    elif method == "dense":
        model.layers = _train_dense(data, labels, len(classes))
    return model


def _stranger_scores(method, data, labels, classes: int, bar_for) -> np.ndarray:
    """The best score each person's vectors get from a model trained without them."""
    best = []
    for left_out in np.random.default_rng(0).permutation(classes)[:STRANGERS]:
        inside = labels != left_out
        relabel = np.cumsum(np.bincount(labels[inside], minlength=classes) > 0) - 1
        model = _fit(method, data[inside], relabel[labels[inside]], list(range(classes - 1)), bar_for)
        best.extend(model.best(data[~inside])[1].tolist())
    return np.asarray(best, np.float32)


def _cutoff(strangers: np.ndarray, named_share: float) -> float:
    """The lowest cut-off that names no larger a share of strangers than named_share (at least none
    of them, when the matcher names none)."""
    ordered = np.sort(strangers)[::-1]
    allowed = int(np.floor(named_share * len(ordered)))
    return float(np.nextafter(ordered[allowed], np.float32(np.inf))) if allowed < len(ordered) else float(ordered[-1])


def _cv_accuracy(method, data, labels, classes: int, bar_for, cutoff: float, seed: int) -> float:
    """k-fold, each person's vectors spread over the folds; a person needs one vector in training."""
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(labels), int)
    for label in range(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        folds[members] = np.arange(len(members)) % min(FOLDS, len(members))
    right = total = 0
    for fold in range(FOLDS):
        test = folds == fold
        if not test.any() or (~test).sum() == 0:
            continue
        model = _fit(method, data[~test], labels[~test], list(range(classes)), bar_for)
        model.cutoff = cutoff
        for (name, _), truth in zip(model.predict(data[test]), labels[test]):
            right += name == truth
            total += 1
    return float(right / total) if total else 0.0


def _features(vectors: np.ndarray) -> np.ndarray:
    return np.hstack([vectors * SOFTMAX_SCALE, np.ones((len(vectors), 1), np.float32)])


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _train_softmax(data: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    features = _features(data)
    onehot = np.eye(classes, dtype=np.float32)[labels]
    weights = np.zeros((features.shape[1], classes), np.float32)
    for _ in range(SOFTMAX_STEPS):
        gradient = features.T @ (_softmax(features @ weights) - onehot) / len(features) + SOFTMAX_DECAY * weights
        weights -= SOFTMAX_RATE * gradient
    return weights


def _dense_forward(layers: tuple, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hidden_weights, output_weights = layers
    hidden = np.maximum(_features(vectors) @ hidden_weights, 0.0)
    return hidden, _softmax(np.hstack([hidden, np.ones((len(hidden), 1), np.float32)]) @ output_weights)


def _train_dense(data: np.ndarray, labels: np.ndarray, classes: int) -> tuple:
    rng = np.random.default_rng(0)
    features = _features(data)
    onehot = np.eye(classes, dtype=np.float32)[labels]
    hidden_weights = (rng.normal(size=(features.shape[1], HIDDEN)) / np.sqrt(features.shape[1])).astype(np.float32)
    output_weights = np.zeros((HIDDEN + 1, classes), np.float32)
    for _ in range(DENSE_STEPS):
        hidden, probabilities = _dense_forward((hidden_weights, output_weights), data)
        with_bias = np.hstack([hidden, np.ones((len(hidden), 1), np.float32)])
        error = (probabilities - onehot) / len(data)
        output_gradient = with_bias.T @ error + SOFTMAX_DECAY * output_weights
        back = (error @ output_weights[:-1].T) * (hidden > 0)
        hidden_gradient = features.T @ back + SOFTMAX_DECAY * hidden_weights
        output_weights -= DENSE_RATE * output_gradient
        hidden_weights -= DENSE_RATE * hidden_gradient
    return hidden_weights, output_weights
