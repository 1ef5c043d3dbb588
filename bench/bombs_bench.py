"""What each decompression bomb, and each large but honest input, raises a real server's peak resident
memory by (tests/test_bombs.py holds the bombs to 64 MB beyond the largest upload; this prints them
all, and the honest inputs at the limits, for the record and for comparison with another checkout).

Run: .venv/bin/python bench/bombs_bench.py [--root OTHER_CHECKOUT]
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import bomb_files as bombs  # noqa: E402
from tests.memory_server import MB, MeasuredServer  # noqa: E402
from webapp.routes.signin import burst_digest  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"


def post(path: str, **options):
    return lambda url: requests.post(url + path, timeout=600, **options)


def jpeg(image: np.ndarray, *params) -> bytes:
    return cv2.imencode(".jpg", image, list(params))[1].tobytes()


def heic(image: np.ndarray) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(buffer, "HEIF", quality=80)
    return buffer.getvalue()


def burst(url: str, route: str, frame: bytes, count: int = 40):
    token = requests.post(url + "/signin/challenge", timeout=30).json()["token"]
    # Frames of their own (a burst is good once, on every route): the frame with random bytes after its end.
    frames = [frame + os.urandom(8) for _ in range(count)]
    return requests.post(url + route, data={"token": token, "name": "Nobody", "digest": burst_digest(frames)},
                         timeout=600, files=[("frame", (f"f{n}.png", f)) for n, f in enumerate(frames)])


def body(path: str, data: bytes, content_type: str):
    return post(path, data=data, headers={"Content-Type": content_type})


def at_once(count: int, send):
    """count copies of send made at the same time; the responses."""
    def sender(url: str):
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda _: send(url), range(count)))
    return sender


def unfinished(count: int, size: int = 15 * MB, path: str = "/faces"):
    """count POSTs of size bytes, all but the last MiB sent, held open while the peak is read: what the
    server holds for bodies nobody finishes (no key is sent)."""
    def sender(url: str):
        host, port = url.rsplit("/", 1)[1].split(":")
        chunk, sockets = bytes(MB), []
        try:
            for _ in range(count):
                sock = socket.create_connection((host, int(port)), timeout=60)
                sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\n\r\n" % (path.encode(), size))
                sockets.append(sock)
                try:
                    for _ in range(size // MB - 1):
                        sock.sendall(chunk)
                except OSError:  # refused (503) and closed by the server
                    pass
            time.sleep(3)  # the server reads what was sent
            return [requests.get(url + "/health", timeout=30)]
        finally:
            for sock in sockets:
                sock.close()
    return sender


def upload(path: str, field: str, name: str, data: bytes):
    return post(path, files={field: (name, data)})


def cases(folder: Path, face: np.ndarray) -> list[tuple[str, object]]:
    avi = bombs.video_of_huge_frames(folder)
    mp4 = bombs.video_of_huge_frames(folder, suffix=".mp4", fourcc="mp4v")
    uhd, qhd, fhd = (bombs.video_of_huge_frames(folder, width=w, height=h, frames=20, suffix=".mp4", fourcc="mp4v")
                     for w, h in ((3840, 2160), (2560, 1440), (1920, 1080)))
    other = bombs.other_codec_bombs()
    huge_frame, png_12000 = bombs.png_bomb(6000, 6000), bombs.png_bomb(12000, 12000)
    phone, phone_48 = cv2.resize(face, (3024, 4032)), cv2.resize(face, (6000, 8000))
    frame_1080p = jpeg(cv2.resize(face, (1920, 1080)), cv2.IMWRITE_JPEG_QUALITY, 30)
    frame_vga = jpeg(cv2.resize(face, (640, 480)), cv2.IMWRITE_JPEG_QUALITY, 85)
    video = "/extract_embeddings_from_video"
    frame_4k = jpeg(cv2.resize(face, (3840, 2160)), cv2.IMWRITE_JPEG_QUALITY, 90)
    look_4k = upload("/signin/look", "frame", "f.jpg", frame_4k)
    zipped_png = io.BytesIO()
    with zipfile.ZipFile(zipped_png, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Ada/big.png", bombs.png_bomb(7000, 7000, colour_type=6))
    return [
        ("form: 15 MB a=&a=& at /signin/look", body("/signin/look", bombs.form_bomb(),
                                                    "application/x-www-form-urlencoded")),
        ("JSON: 15 MB [[],[],...] at /signin", body("/signin", bombs.json_bomb(), "application/json")),
        ("JSON: 15 MB [[],[],...] at /me/delete", body("/me/delete", bombs.json_bomb(), "application/json")),
        ("JSON: 2 MB [[],[],...] at /faces", body("/faces", bombs.json_bomb(2 * MB - 64), "application/json")),
        ("multipart: 1000 files of 15 KB", post("/signin/look", files=[("frame", (f"{n}.jpg", bytes(15_000)))
                                                                      for n in range(1000)])),
        ("multipart: 1000 fields of 15 KB", post("/signin/look", files=[("name", (None, "a" * 15_000))
                                                                       for n in range(1000)])),
        ("multipart: one 15 MB base64 field", post("/process-frame", files={"frame": (None, "A" * 15 * MB)})),
        ("zip: one 7000x7000 RGBA PNG", upload("/people/import", "zip", "p.zip", zipped_png.getvalue())),
        ("look: one 4K JPEG", look_4k),
        ("look: 12 x 4K JPEG at once", at_once(12, look_4k)),
        ("unfinished: 10 x 15 MB to /faces", unfinished(10)),
        ("unfinished: 40 x 15 MB to /faces", unfinished(40)),
        ("zip: BZIP2 member, 300 MiB inside", upload("/people/import", "zip", "p.zip", bombs.lying_zip(bombs.BZIP2))),
        ("zip: LZMA member, 300 MiB inside", upload("/people/import", "zip", "p.zip", bombs.lying_zip(bombs.LZMA))),
        ("zip: deflate member lying, 300 MiB", upload("/people/import", "zip", "p.zip", bombs.lying_zip(bombs.DEFLATED))),
        ("PNG 12000x12000 at /signin/look", upload("/signin/look", "frame", "b.png", png_12000)),
        ("PNG 12000x12000 at /process-frame", upload("/process-frame", "frame", "b.png", png_12000)),
        ("PNG 5000x5000 16-bit RGBA", upload("/process-frame", "frame", "b.png",
                                             bombs.png_bomb(5000, 5000, bit_depth=16, colour_type=6))),
        ("WebP 8000x8000", upload("/process-frame", "frame", "b.webp", bombs.webp_bomb())),
        ("JPEG progressive 8000x8000", upload("/process-frame", "frame", "b.jpg", bombs.progressive_jpeg_bomb())),
        ("JPEG declaring 60000x60000", upload("/process-frame", "frame", "b.jpg",
                                              bombs.jpeg_declaring(60000, 60000, jpeg(face)))),
        ("TIFF 6000x6000", upload("/process-frame", "frame", "b.tiff", other["tiff"])),
        ("JPEG 2000 3000x3000", upload("/process-frame", "frame", "b.jp2", other["jp2"])),
        ("HDR 3000x3000", upload("/process-frame", "frame", "b.hdr", other["hdr"])),
        ("PNG 6000x6000 album query", upload("/album/search", "image", "q.png", huge_frame)),
        ("video 8K MJPG AVI", upload(video, "video", "v.avi", avi)),
        ("video 8K MPEG-4 MP4", upload(video, "video", "v.mp4", mp4)),
        ("video 8K AVI declaring 640x480", upload(video, "video", "v.avi", bombs.video_declaring(avi, 640, 480))),
        ("video 8K MP4 declaring 640x480", upload(video, "video", "v.mp4", bombs.video_declaring(mp4, 640, 480))),
        ("burst 40 x 6000x6000 at /signup", lambda url: burst(url, "/signup", huge_frame)),
        ("burst 40 x 6000x6000 at /signin", lambda url: burst(url, "/signin", huge_frame)),
        # Honest inputs at the limits.
        ("honest: JPEG 12 MP (3024x4032)", upload("/process-frame", "frame", "p.jpg",
                                                  jpeg(phone, cv2.IMWRITE_JPEG_QUALITY, 92))),
        ("honest: JPEG 48 MP (6000x8000)", upload("/process-frame", "frame", "p.jpg",
                                                  jpeg(phone_48, cv2.IMWRITE_JPEG_QUALITY, 92))),
        ("honest: JPEG 12 MP progressive", upload("/process-frame", "frame", "p.jpg",
                                                  jpeg(phone, cv2.IMWRITE_JPEG_PROGRESSIVE, 1))),
        ("honest: PNG 3840x2160", upload("/process-frame", "frame", "p.png",
                                         cv2.imencode(".png", cv2.resize(face, (3840, 2160)))[1].tobytes())),
        ("honest: HEIC 12 MP album query", upload("/album/search", "image", "q.heic", heic(phone))),
        ("honest: video 4K MP4, 20 frames", upload(video, "video", "v.mp4", uhd)),
        ("honest: video 1440p MP4, 20 frames", upload(video, "video", "v.mp4", qhd)),
        ("honest: video 1080p MP4, 20 frames", upload(video, "video", "v.mp4", fhd)),
        ("honest: burst 40 x 640x480 JPEG", lambda url: burst(url, "/signin", frame_vga)),
        ("honest: burst 40 x 1920x1080 JPEG", lambda url: burst(url, "/signin", frame_1080p)),
    ]


def _listed(answer) -> list:
    return answer if isinstance(answer, list) else [answer]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose run.py to measure [this one]")
    parser.add_argument("--only", help="run the cases whose name contains this (or any of A|B|...)")
    args = parser.parse_args()
    from recognition.models.weights import provision_dlib_weights

    with tempfile.TemporaryDirectory(prefix="bombs-bench-") as scratch:
        folder = Path(scratch)
        provision_dlib_weights(folder / "home" / ".deepface" / "weights")
        (folder / "album").mkdir()
        face = cv2.imread(str(FIXTURES / "faces" / "obama" / "obama1.jpg"))
        print(f"measuring {args.root}; building the inputs...", flush=True)
        chosen = [(name, send) for name, send in cases(folder, face)
                  if not args.only or any(part in name for part in args.only.split("|"))]
        server = MeasuredServer(folder / "server", folder / "home", ["--album", str(folder / "album")], root=args.root)
        try:
            warm = jpeg(face)
            clip = (FIXTURES / "video" / "short_hamilton_clip.mp4").read_bytes()
            for send in (upload("/process-frame", "frame", "f.jpg", warm), upload("/album/search", "image", "f.jpg", warm),
                         upload("/extract_embeddings_from_video", "video", "c.mp4", clip)):
                server.measure(send)  # first uses (imports, FFmpeg's libraries) are not any input's cost
            # The first burst loads the 68-point landmark model (about 100 MB, once): not a burst's cost.
            server.measure(lambda url: burst(url, "/signin", jpeg(cv2.resize(face, (640, 480)))))
            print(f"{'input':40s} {'answer':>6s} {'peak +MB':>9s}  {'s':>5s}  error")
            for name, send in chosen:
                started = time.monotonic()
                answers, growth = server.measure_many(lambda url: _listed(send(url)))
                seconds = time.monotonic() - started
                statuses = "/".join(sorted({str(a.status) for a in answers}))
                print(f"{name:40s} {statuses:>6s} {growth / MB:9.1f}  {seconds:5.1f}  {answers[0].error[:110]}",
                      flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
