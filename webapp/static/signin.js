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

async function withChallenge() {
  const asked = await fetch("/signin/challenge");
  const answer = await asked.json();
  if (!asked.ok) {  // asked too often (429): say so, and wait
    say(`${answer.error || "the server did not give a challenge"}. Try again later.`, "error");
    return;
  }
  const form = fields();
  if (answer.liveness !== "challenge") {
    form.append("image", await camera.frame(), "camera.jpg");
    return send(form);
  }
  form.append("token", answer.token);
  prompt(`Get ready: ${answer.prompt.toLowerCase()} ${ARROWS[answer.move] || ""}`);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  prompt(`${answer.prompt} ${ARROWS[answer.move] || ""}`);
  $("progress").hidden = false;
  const frames = await camera.burst(answer.frames, answer.seconds, (done) => { $("progress").value = done; });
  $("progress").hidden = true;
  prompt("");
  frames.forEach((blob, index) => form.append("frame", blob, `frame${index}.jpg`));
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
