import pytest

from recognition.models.weights import (
    DLIB_WEIGHTS, FACENET_WEIGHTS, WeightsMissing, provision_dlib_weights, resolve_model, shipped_model,
)


def test_dlib_weights_come_from_the_installed_package(tmp_path):
    target = provision_dlib_weights(tmp_path)
    assert target == tmp_path / DLIB_WEIGHTS
    assert target.stat().st_size == shipped_model(DLIB_WEIGHTS).stat().st_size > 1_000_000


def test_auto_falls_back_to_dlib_and_says_what_to_do(tmp_path):
    choice = resolve_model("auto", tmp_path, allow_download=False)
    assert choice.name == "Dlib"
    assert str(tmp_path / FACENET_WEIGHTS) in choice.reason and "--model Dlib" in choice.reason
    assert (tmp_path / DLIB_WEIGHTS).is_file()


def test_auto_prefers_facenet_where_its_weights_exist(tmp_path):
    (tmp_path / FACENET_WEIGHTS).write_bytes(b"weights placed by the operator")
    assert resolve_model("auto", tmp_path, allow_download=False).name == "Facenet"


def test_facenet_by_name_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsMissing, match="place facenet_weights.h5 there or run with --model Dlib"):
        resolve_model("Facenet", tmp_path, allow_download=False)
