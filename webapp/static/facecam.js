// The person's own camera in the page: a mirrored live preview, framing hints from the server, and
// frames taken from it (a still, or a burst while the person makes the asked movement).
"use strict";

const FRAME_WIDTH = 640;  // what the server gets: enough for the landmarks, small enough to send 24 per move
const HINT_WIDTH = 320;
const HINT_EVERY_MS = 800;
const CAMERA_TIMEOUT_MS = 10_000;

class FaceCam {
  constructor(video, onHint) {
    this.video = video;
    this.onHint = onHint;
    this.stream = null;
    this.hinting = false;
    this.quiet = false;  // while a challenge records, "hold still" would contradict the question
  }

  async start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("this browser gives no camera to pages (it needs https, or localhost)");
    }
    this.stream = await navigator.mediaDevices.getUserMedia(
      { video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false });
    this.video.srcObject = this.stream;
    await new Promise((resolve, reject) => {  // a camera that never shows a picture is said so, not waited on
      if (this.video.videoWidth > 0) return resolve();
      const timer = setTimeout(() => reject(new Error("it gave no picture within 10 s")), CAMERA_TIMEOUT_MS);
      this.video.addEventListener("loadedmetadata", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
    this.hinting = true;
    this.hintLoop();
  }

  stop() {
    this.hinting = false;
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    this.stream = null;
  }

  get live() {
    return this.stream !== null && this.video.videoWidth > 0;
  }

  // One frame as a JPEG blob, width pixels wide; not mirrored (the server sees what the camera sees).
  async frame(width = FRAME_WIDTH) {
    const scale = Math.min(1, width / this.video.videoWidth);
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(this.video.videoWidth * scale);
    canvas.height = Math.round(this.video.videoHeight * scale);
    canvas.getContext("2d").drawImage(this.video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  }

  // count frames spread over seconds; onProgress(fraction) as they come.
  async burst(count, seconds, onProgress) {
    const frames = [];
    const gap = (seconds * 1000) / count;
    const started = performance.now();
    for (let index = 0; index < count; index++) {
      const due = started + index * gap;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      frames.push(await this.frame());
      onProgress((index + 1) / count);
    }
    return frames;
  }

  async hintLoop() {
    while (this.hinting) {
      const started = performance.now();
      try {
        if (!this.quiet && !document.hidden) {  // nothing is sent while a challenge records, or unseen
          const form = new FormData();
          form.append("frame", await this.frame(HINT_WIDTH), "frame.jpg");
          const response = await fetch("/signin/look", { method: "POST", body: form });
          if (this.hinting && !this.quiet && response.ok) this.onHint(await response.json());
        }
      } catch (error) {
        // a hint missed is no harm: the next one comes shortly
      }
      const rest = HINT_EVERY_MS - (performance.now() - started);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    }
  }
}
