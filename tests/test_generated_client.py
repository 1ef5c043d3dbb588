"""A client generated from the server's own /openapi.json (openapi-python-client, as a user would run it)
works against a real server: one call of each kind, an open GET, multipart photo uploads, a JSON body,
a path parameter with PATCH and DELETE, a list with query parameters, and the errors as the Error model."""
from __future__ import annotations

import importlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import fixture_path
from webapp import create_app
from webapp.parts import Parts

KEY = "client-key"
pytestmark = pytest.mark.slow  # runs the generator, and the model on the uploaded photos


def generate(url: str, folder: Path):
    """The client package generated from url's /openapi.json, imported."""
    spec = folder / "openapi.json"
    spec.write_bytes(requests.get(url + "/openapi.json", timeout=10).content)
    bin_dir = Path(sys.executable).parent  # its formatter (ruff) is found beside the interpreter
    result = subprocess.run([str(bin_dir / "openapi-python-client"), "generate", "--path", str(spec), "--meta",
                             "none", "--output-path", str(folder / "faceapp_client")],
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(folder)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unable to generate" not in result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("faceapp_client")
    finally:
        sys.path.remove(str(folder))


def photo(relative: str):
    from faceapp_client.types import File  # type: ignore[import-not-found]

    path = fixture_path("faces/" + relative)
    return File(payload=io.BytesIO(path.read_bytes()), file_name=path.name, mime_type="image/jpeg")


def test_a_generated_client_makes_one_call_of_each_kind(store, analyzer, live_server, tmp_path):
    server = live_server(create_app(Parts.build(store, analyzer, api_key=KEY)))
    client_package = generate(server.url, tmp_path)
    from faceapp_client.api.default import (  # type: ignore[import-not-found]
        delete_faces_hash, get_faces, get_faces_hash, get_health, patch_faces_hash, post_compare_embeddings,
        post_enroll, post_extract_embeddings_from_image, post_verify)
    from faceapp_client.models import (  # type: ignore[import-not-found]
        Error, PatchFacesHashBody, PostCompareEmbeddingsBody, PostEnrollFilesBody, PostExtractEmbeddingsFromImageBody,
        PostVerifyBody)

    client = client_package.AuthenticatedClient(base_url=server.url, token=KEY, prefix="", auth_header_name="X-API-Key")
    stranger = client_package.Client(base_url=server.url)
    assert get_health.sync(client=stranger).status == "ok"  # open: no key
    refused = get_faces.sync_detailed(client=stranger)
    assert refused.status_code == 401 and isinstance(refused.parsed, Error) and "X-API-Key" in refused.parsed.error

    enrolled = post_enroll.sync(client=client, body=PostEnrollFilesBody(image=photo("obama/obama1.jpg"), name="Barack"))
    assert enrolled.name == "Barack" and len(enrolled.hash_) == 64
    renamed = patch_faces_hash.sync(enrolled.hash_, client=client, body=PatchFacesHashBody(name="Barack Obama"))
    assert renamed.name == "Barack Obama"
    listed = get_faces.sync(client=client, offset=0, limit=10)
    assert [(face.hash_, face.name) for face in listed.faces] == [(enrolled.hash_, "Barack Obama")]

    verified = post_verify.sync(client=client, body=PostVerifyBody(image=photo("obama/obama2.jpg"), hash_=enrolled.hash_))
    assert verified.verified is True and verified.similarity > verified.threshold
    first, second = (post_extract_embeddings_from_image.sync(
        client=client, body=PostExtractEmbeddingsFromImageBody(image=photo(name))).embeddings[0].embedding
        for name in ("obama/obama2.jpg", "biden/biden1.jpg"))
    compared = post_compare_embeddings.sync(client=client, body=PostCompareEmbeddingsBody(embedding1=first,
                                                                                          embedding2=second))
    assert compared.match is False and compared.similarity < compared.threshold

    assert delete_faces_hash.sync_detailed(enrolled.hash_, client=client).status_code == 200
    gone = get_faces_hash.sync_detailed(enrolled.hash_, client=client)
    assert gone.status_code == 404 and isinstance(gone.parsed, Error)
