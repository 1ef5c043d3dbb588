// The browser tests' camera, with a person in front of it who follows the sign-in page's prompts: an
// init script that gives the page, in place of the camera, a stream drawn from footage of a real head
// (tests/footage.py Person). Facing the camera, the person holds still (the hold frames, looped); when a
// move's prompt appears ("1 of 2: Turn your head to your left ←"; not "Get ready: ..."), after the
// reaction time, the head makes it (the turn to the right, drawn mirrored for a left), once the move
// before is over, and faces the camera again. Chromium's fake camera (--use-file-for-fake-video-capture)
// plays a file in a loop whatever the page asks, which no person does.
"use strict";

(() => {
  const FPS = 30;  // the footage's frame rate

  async function bitmaps(encoded) {
    return Promise.all(encoded.map((text) => createImageBitmap(
      new Blob([Uint8Array.from(atob(text), (c) => c.charCodeAt(0))], { type: "image/jpeg" }))));
  }

  navigator.mediaDevices.getUserMedia = async () => {
    const footage = await window.promptedFootage();  // exposed by the test: {right, hold, speed, reaction}
    const right = await bitmaps(footage.right);
    const hold = await bitmaps(footage.hold);
    const canvas = document.createElement("canvas");
    canvas.width = right[0].width;
    canvas.height = right[0].height;
    const context = canvas.getContext("2d");
    const started = performance.now();
    const moves = [];  // {way, at}: when each asked move begins (ms)
    const lasts = (right.length / (FPS * footage.speed)) * 1000;
    let read = "";

    function draw() {
      const now = performance.now();
      const prompt = document.getElementById("prompt");
      const text = prompt && !prompt.hidden ? prompt.textContent : "";
      if (text !== read) {
        read = text;
        const asked = /get ready/i.test(text) ? null : text.match(/your (left|right)/i);
        if (asked) {
          const free = moves.length ? moves[moves.length - 1].at + lasts : 0;
          moves.push({ way: asked[1].toLowerCase(), at: Math.max(now + footage.reaction * 1000, free) });
        }
      }
      let frame = hold[Math.floor(((now - started) / 1000) * FPS) % hold.length];
      let mirror = false;
      for (const move of moves) {
        const index = Math.floor(((now - move.at) / 1000) * FPS * footage.speed);
        if (index >= 0 && index < right.length) {
          frame = right[index];
          mirror = move.way === "left";
        }
      }
      context.setTransform(mirror ? -1 : 1, 0, 0, 1, mirror ? canvas.width : 0, 0);
      context.drawImage(frame, 0, 0);
    }

    draw();
    const stream = canvas.captureStream(FPS);
    const timer = setInterval(draw, 1000 / FPS);
    stream.getVideoTracks()[0].addEventListener("ended", () => clearInterval(timer));
    return stream;
  };
})();
