"""The recognition worker on a played video: names enrolled people, never the wrong one, drops frames."""
import numpy as np

from recognition.matching.matcher import Matcher
from tests.conftest import load_photo, wait_until, write_clip

SEGMENT_SECONDS = 1.5
FPS = 20


def enroll_from_photo(analyzer, photo, name):
    _, embeddings = analyzer.embed(load_photo(photo))
    return analyzer.matcher.enroll(embeddings[0], name)


def test_names_each_enrolled_person_and_never_the_wrong_one(camera_services, analyzer, tmp_path):
    segments = ["kit_harington/kit1.jpg", "obama/obama2.jpg", "biden/biden1.jpg", "rose_leslie/rose2.jpg"]
    clip = write_clip(tmp_path / "cam.avi", segments, seconds_each=SEGMENT_SECONDS, fps=FPS)
    obama = enroll_from_photo(analyzer, "obama/obama3.jpg", "Barack")
    biden = enroll_from_photo(analyzer, "biden/biden2.jpg", "Joe")
    expected = {1: obama.hash, 2: biden.hash}  # segment index -> who is on screen; 0 and 3 are strangers

    services = camera_services(str(clip))
    worker = services.worker
    results = {}

    def watched_whole_clip():
        result = worker.latest
        if result is not None:
            results[result.frame_seq] = result
        return len(results) > 5 and result.source_index is not None and result.source_index >= len(segments) * SEGMENT_SECONDS * FPS - 8

    assert wait_until(watched_whole_clip, timeout=30, interval=0.02)
    named = {}
    for result in results.values():
        segment = int(result.source_index // (SEGMENT_SECONDS * FPS))
        for face in result.faces:
            if face.known:
                assert face.identity_hash == expected.get(segment), (segment, face.name)
                named[segment] = face.identity_hash
    assert named == expected
    # It analyses the newest frame and drops the rest, so it does not fall behind the clip.
    assert worker.analysed < services.frames.latest.seq


def test_refresh_rematches_after_enrolling(camera_services, analyzer, tmp_path):
    clip = write_clip(tmp_path / "cam.avi", ["alex_lacamoire/alex1.jpg"], seconds_each=2.0, fps=FPS)
    services = camera_services(str(clip))
    worker = services.worker
    assert wait_until(lambda: worker.latest and worker.latest.faces, timeout=20)
    worker.stop()  # no newer frame may replace the result: this test is about refresh alone
    assert not worker.latest.faces[0].known
    identity = Matcher(services.store, "Dlib").enroll(worker.latest.faces[0].embedding, "Alex")
    worker.refresh(created=[identity])
    assert worker.latest.faces[0].identity_hash == identity.hash
    assert np.isclose(worker.latest.faces[0].similarity, 1.0, atol=1e-4)
    services.store.rename(identity.hash, "Alex L.")
    worker.refresh(changed=[identity.hash])
    assert worker.latest.faces[0].name == "Alex L."
    services.store.add_rejection(identity.hash, worker.latest.faces[0].embedding)  # "not this person"
    worker.refresh(changed=[identity.hash])
    assert not worker.latest.faces[0].known
    services.store.remove(identity.hash)
    worker.refresh(changed=[identity.hash])
    assert not worker.latest.faces[0].known
