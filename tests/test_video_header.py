"""recognition.pipeline.video_header: the frame size a container declares, read before FFmpeg sees it,
on videos written by OpenCV here and the fixture clip, truncated and lying ones."""
import pytest

from recognition.pipeline.video_header import ContainerError, frame_size
from tests.bomb_files import video_declaring, video_of_huge_frames
from tests.conftest import fixture_path


def test_the_fixture_clip():
    declared = frame_size(fixture_path("video/short_hamilton_clip.mp4").read_bytes())
    assert (declared.container, declared.width, declared.height) == ("MP4", 640, 360)


@pytest.mark.parametrize("suffix, fourcc, container", [(".mp4", "mp4v", "MP4"), (".mov", "mp4v", "MP4"),
                                                        (".avi", "MJPG", "AVI"), (".mkv", "MJPG", "Matroska"),
                                                        (".webm", "VP80", "Matroska")])
def test_each_container_we_read(tmp_path, suffix, fourcc, container):
    data = video_of_huge_frames(tmp_path, width=320, height=176, frames=2, suffix=suffix, fourcc=fourcc)
    declared = frame_size(data)
    assert (declared.container, declared.width, declared.height, declared.pixels) == (container, 320, 176, 320 * 176)


def test_a_container_that_lies_is_read_as_it_lies(tmp_path):
    """What the container declares is what is checked before FFmpeg opens it; what FFmpeg then finds
    is checked again (recognition.pipeline.video)."""
    for suffix, fourcc in ((".avi", "MJPG"), (".mp4", "mp4v")):
        data = video_of_huge_frames(tmp_path, width=320, height=176, frames=2, suffix=suffix, fourcc=fourcc)
        declared = frame_size(video_declaring(data, 16000, 9000))
        assert (declared.width, declared.height) == (16000, 9000)


def test_truncated_and_foreign_data_is_refused(tmp_path):
    mp4 = video_of_huge_frames(tmp_path, width=320, height=176, frames=2, suffix=".mp4", fourcc="mp4v")
    mkv = video_of_huge_frames(tmp_path, width=320, height=176, frames=2, suffix=".mkv", fourcc="MJPG")
    for data, why in [(b"", "not a video container we read"),
                      (b"GIF89a" + bytes(64), "send MP4, MOV, MKV, WebM or AVI"),
                      (mp4[:100], "no 'moov' box"), (mkv[:40], "the Matroska file has no segment"),
                      (b"\x00\x00\x00\x18ftypmp42" + bytes(16), "no 'moov' box"),
                      (b"RIFF\x10\x00\x00\x00AVI LIST", "no header list")]:
        with pytest.raises(ContainerError, match=why):
            frame_size(data)
