"""recognition.pipeline.unzip and zip_people: every byte counted as it is unpacked, declared sizes never
trusted, BZIP2/LZMA refused before anything is unpacked; honest zips still read."""
import io
import zipfile

import pytest

from recognition.pipeline.people_import import BadZip, ZippedPhoto, zip_people
from recognition.pipeline.unzip import CHUNK, Budget, ZipRefused, check_member, unpack
from tests.bomb_files import BZIP2, DEFLATED, LZMA, MiB, lying_zip, zip_archive


def members(data: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(data)).infolist()


def honest(entries: dict, method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_stored_and_deflated_members_unpack_as_they_were():
    photo = bytes(range(256)) * 4000
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        data = honest({"Ada/a.jpg": photo, "Ada/b.jpg": b"small"}, method)
        budget = Budget(10 * MiB)
        assert [unpack(memoryview(data), m, budget, 10 * MiB) for m in members(data)] == [photo, b"small"]
        assert budget.left == 10 * MiB - len(photo) - 5


@pytest.mark.parametrize("method, name", [(BZIP2, "BZIP2"), (LZMA, "LZMA")])
def test_bzip2_and_lzma_are_refused_before_anything_is_unpacked(method, name):
    data = lying_zip(method, unpacked=MiB)
    with pytest.raises(ZipRefused, match=f"compressed with {name}, and only stored and deflated"):
        check_member(members(data)[0], 20 * MiB)


def test_a_member_that_unpacks_beyond_its_declared_size_is_stopped_at_the_first_chunk_too_many():
    data = lying_zip(DEFLATED, unpacked=8 * MiB, declared=1000)
    member = members(data)[0]
    check_member(member, 20 * MiB)  # its declaration is modest: only unpacking shows the lie
    budget = Budget(64 * MiB)
    with pytest.raises(ZipRefused, match="unpacks to more than the 1000 bytes it declares"):
        unpack(memoryview(data), member, budget, 64 * MiB)
    assert 64 * MiB - budget.left <= CHUNK  # one chunk was inflated, not 8 MiB


def test_the_total_is_counted_as_it_is_unpacked():
    data = honest({f"Ada/{n}.jpg": bytes(2 * MiB) for n in range(3)})
    budget = Budget(5 * MiB)
    view, found = memoryview(data), members(data)
    unpack(view, found[0], budget, 5 * MiB)
    unpack(view, found[1], budget, 5 * MiB)
    with pytest.raises(ZipRefused, match="more than 5 MB"):
        unpack(view, found[2], budget, 5 * MiB)


def test_damaged_truncated_and_misplaced_members_are_refused():
    photo = bytes(range(256)) * 400
    stored = bytearray(honest({"Ada/a.jpg": photo}, zipfile.ZIP_STORED))
    stored[100] ^= 0xFF
    deflated = honest({"Ada/a.jpg": photo})
    member = members(deflated)[0]
    packed_at = member.header_offset + 30 + len("Ada/a.jpg")
    cases = {
        "its CRC-32 is wrong": (bytes(stored), members(bytes(stored))[0]),
        "damaged": (deflated[:packed_at] + bytes(member.compress_size) + deflated[packed_at + member.compress_size:],
                    member),
        "not where the zip's directory says": (bytes(40) + deflated, member),
    }
    for why, (data, which) in cases.items():
        with pytest.raises(ZipRefused, match=why):
            unpack(memoryview(data), which, Budget(MiB), MiB)
    stored_liar = zip_archive([("Ada/a.jpg", 0, b"12345", 0, 10)])
    with pytest.raises(ZipRefused, match="stored as 5 bytes but declares 10"):
        unpack(memoryview(stored_liar), members(stored_liar)[0], Budget(MiB), MiB)


def test_encrypted_and_oversized_members_are_refused_from_their_declaration():
    member = zipfile.ZipInfo("Ada/a.jpg")
    member.compress_type, member.flag_bits, member.file_size = zipfile.ZIP_DEFLATED, 0x1, 10
    with pytest.raises(ZipRefused, match="encrypted"):
        check_member(member, MiB)
    member.flag_bits, member.file_size = 0, 30 * MiB
    with pytest.raises(ZipRefused, match="declares 30 MB, and a photo may be 20 MB at most"):
        check_member(member, 20 * MiB)


def test_zip_people_holds_photos_packed_until_each_is_read():
    data = honest({"People/Ada/a.jpg": b"a" * 1000, "People/Bo/b.jpg": b"b" * 10, "People/Bo/notes.txt": b"x"})
    people = zip_people(data)
    assert [name for name, _ in people] == ["Ada", "Bo"]
    (label, photo), = people[0][1]
    assert label == "People/Ada/a.jpg" and isinstance(photo, ZippedPhoto) and photo.read() == b"a" * 1000
    for bomb, why in [(lying_zip(BZIP2, unpacked=MiB), "compressed with BZIP2"),
                      (lying_zip(DEFLATED, unpacked=8 * MiB), "1000 bytes it declares"),
                      (lying_zip(DEFLATED, unpacked=20 * MiB, declared=20 * MiB, members=4), "more than 64 MB")]:
        with pytest.raises(BadZip, match=why):
            zip_people(bomb)
