// The sign-up and sign-in pages: camera, hints, the liveness challenge, and the answer.
"use strict";

const page = document.querySelector("main.facecam");
const challenged = page.dataset.liveness === "challenge";
const $ = (id) => document.getElementById(id);
const ARROWS = { left: "←", right: "→", up: "↑" };  // the preview is a mirror: the person's left is on its left

function say(text, kind = "") {
  $("message").textContent = text;
  $("message").className = kind;
}

function showHint(answer) {
  $("hint").textContent = answer.message;
  $("hint").className = answer.ok ? "ok" : "muted";
}

const camera = new FaceCam($("view"), showHint);
function startCamera() {
  camera.start().catch((error) => {
    $("hint").textContent = `your camera cannot be used: ${error.message}`;
    $("hint").className = "error";
  });
}
startCamera();
window.addEventListener("pagehide", () => camera.stop());
window.addEventListener("pageshow", (event) => { if (event.persisted) startCamera(); });  // back to this page

function prompt(text) {
  $("prompt").textContent = text;
  $("prompt").hidden = !text;
}

function fields() {
  const form = new FormData();
  for (const id of ["name", "email"]) {
    if ($(id) && $(id).value.trim()) form.append(id, $(id).value.trim());
  }
  return form;
}

async function send(form) {
  say("checking…");
  const { response, data } = await sendForm(page.dataset.action, form);
  if (response.ok) {
    say(`welcome${data.name ? ", " + data.name : ""}`, "ok");
    window.location.assign("/me");
    return;
  }
  say(`${data.error || "that did not work"}. Try again.`, "error");
}

// What names the burst's exact frames (the server recomputes it, webapp/routes/signin.py burst_digest): the
// SHA-256 of each frame's length (8 bytes, big-endian) and bytes, in order.
async function burstDigest(frames) {
  const parts = [];
  for (const blob of frames) {
    const length = new DataView(new ArrayBuffer(8));
    length.setUint32(0, Math.floor(blob.size / 2 ** 32));
    length.setUint32(4, blob.size % 2 ** 32);
    parts.push(length.buffer, await blob.arrayBuffer());
  }
  const digest = await crypto.subtle.digest("SHA-256", await new Blob(parts).arrayBuffer());
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function asked(answer, index) {
  const step = answer.moves.length > 1 ? `${index + 1} of ${answer.moves.length}: ` : "";
  return `${step}${answer.prompts[index]} ${ARROWS[answer.moves[index]] || ""}`;
}

async function withChallenge() {
  const response = await fetch("/signin/challenge", { method: "POST" });  // asking counts: never a GET
  const answer = await response.json();
  if (!response.ok) {  // asked too often (429): say so, and wait
    say(`${answer.error || "the server did not give a challenge"}. Try again later.`, "error");
    return;
  }
  const form = fields();
  if (answer.liveness !== "challenge") {
    form.append("image", await camera.frame(), "camera.jpg");
    return send(form);
  }
  form.append("token", answer.token);
  const then = answer.moves.length > 1 ? ", then back to the camera" : "";
  prompt(`Get ready: ${answer.prompts[0].toLowerCase()}${then}`);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  // Each move is asked in turn, for its share of the recording: face the camera between them.
  let shown = -1;
  const onProgress = (done) => {
    $("progress").value = done;
    const index = Math.min(answer.moves.length - 1, Math.floor(done * answer.moves.length));
    if (index !== shown) {
      shown = index;
      prompt(asked(answer, index));
    }
  };
  onProgress(0);
  $("progress").hidden = false;
  const frames = await camera.burst(answer.frames, answer.seconds, onProgress);
  $("progress").hidden = true;
  prompt("");
  frames.forEach((blob, index) => form.append("frame", blob, `frame${index}.jpg`));
  form.append("digest", await burstDigest(frames));
  return send(form);
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!camera.live) {
    say(challenged ? "the camera is needed: allow it in the browser and reload" : "no camera: choose a photo below", "error");
    return;
  }
  $("go").disabled = true;
  camera.quiet = true;
  $("hint").textContent = "";
  say("");
  try {
    await withChallenge();
  } catch (error) {
    say(`that did not work: ${error.message}`, "error");
  } finally {
    prompt("");
    $("progress").hidden = true;
    camera.quiet = false;
    $("go").disabled = false;
  }
});

if ($("upload")) {
  $("upload").addEventListener("change", async () => {
    const file = $("upload").files[0];
    if (!file || $("go").disabled) return;
    $("go").disabled = true;
    const form = fields();
    form.append("image", file);
    try {
      await send(form);
    } finally {
      $("upload").value = "";
      $("go").disabled = false;
    }
  });
}
