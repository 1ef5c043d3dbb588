// Shows one camera large (its stream) and every camera small (a picture a second, who is on it); polls
// /hash/<camera> for who is on the camera shown, lists enrolled people, and enrolls on the 'a' key from
// the camera shown. With --api-key every read needs the key (changes.js asks for it once); the
// pictures' <img>s need a viewer cookie.
"use strict";

const statusLine = document.getElementById("status");
const nowList = document.getElementById("now");
const enrolledList = document.getElementById("enrolled");
const outcome = document.getElementById("outcome");
const tiles = document.getElementById("cameras");
const shownTitle = document.getElementById("shown");
let shown = shownTitle ? shownTitle.dataset.camera : null; // the camera shown large

function fillList(list, items, empty) {
  list.replaceChildren();
  if (items.length === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = empty;
    list.append(li);
  }
  for (const { text, cls } of items) {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    list.append(li);
  }
}

function shortHash(hash) { return hash ? hash.slice(0, 10) : ""; }

async function refreshNow() {
  try {
    if (!shown) return;
    const { response, data } = await readJSON(`/hash/${encodeURIComponent(shown)}`);
    if (!response.ok) {
      statusLine.textContent = data.error || `the server answered ${response.status}`;
      return;
    }
    const camera = data.status.camera;
    statusLine.textContent = `model ${data.status.model} · camera ${camera.state}` +
      (camera.state === "live" ? "" : ` (${camera.detail})`);
    fillList(nowList, data.faces.map((f) => ({
      text: f.known ? `${f.name || shortHash(f.hash)} (${f.similarity})` : "unknown",
      cls: f.known ? "known" : "unknown",
    })), "nobody");
  } catch (err) {
    statusLine.textContent = "server unreachable";
  }
}

const LISTED = 200; // a store of a million people is not listed whole on the page

async function refreshEnrolled() {
  const { response, data } = await readJSON(`/faces?limit=${LISTED}`);
  if (!response.ok) {
    fillList(enrolledList, [], data.error || "the people could not be listed");
    return;
  }
  const items = data.faces.map((f) => ({ text: `${f.name || "(no name)"} · ${shortHash(f.hash)}` }));
  if (data.total > data.faces.length) items.push({ text: `… and ${data.total - data.faces.length} more`, cls: "muted" });
  fillList(enrolledList, items, "nobody yet");
}

function show(message, ok) {
  outcome.textContent = message;
  outcome.className = ok ? "ok" : "error";
}

async function enrollFromCamera() {
  const name = window.prompt("Name for this face (optional):", "");
  if (name === null) return; // cancelled
  const { response, data } = await sendChange("/enroll", { name, camera: shown });
  if (response.status === 201) {
    show(`Enrolled ${data.name || "a new face"} as ${shortHash(data.hash)}`, true);
    refreshEnrolled();
  } else if (response.status === 409 && data.hash) {
    show(`Already enrolled as ${data.name || shortHash(data.hash)}`, false);
  } else {
    show(data.error || `enrollment failed (${response.status})`, false);
  }
}

document.addEventListener("keydown", (event) => {
  if (event.key === "a" && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    enrollFromCamera();
  }
});

// The stream of a camera with the filter chosen on the page: a filter's stream is encoded once for all
// who watch it, as the plain one is.
function streamUrl(name) {
  const chosen = document.getElementById("filter")?.value;
  return `/streaming/${encodeURIComponent(name)}` + (chosen ? `?filter=${encodeURIComponent(chosen)}` : "");
}

document.getElementById("filter")?.addEventListener("change", () => {
  const stream = document.getElementById("stream");
  if (stream && stream.getAttribute("src")) stream.src = streamUrl(shownTitle.dataset.camera);
});

function showLarge(name) {
  const stream = document.getElementById("stream");
  if (!stream || name === shown) return;
  shown = name;
  shownTitle.textContent = name;
  shownTitle.dataset.camera = name;
  stream.src = streamUrl(name); // the old stream's connection closes
  fillList(nowList, [], "…");
  refreshNow();
}

// One tile per camera: its newest picture, its name, its state and who is on it; cameras added or
// removed at run time come and go with the next poll.
async function refreshTiles() {
  if (!tiles) return;
  const { response, data } = await readJSON("/cameras");
  if (!response.ok) return;
  const names = data.cameras.map((camera) => camera.name);
  for (const tile of [...tiles.children]) {
    if (!names.includes(tile.dataset.camera)) tile.remove();
  }
  for (const camera of data.cameras) {
    let tile = tiles.querySelector(`figure[data-camera="${CSS.escape(camera.name)}"]`);
    if (!tile) {
      tile = document.createElement("figure");
      tile.dataset.camera = camera.name;
      const img = document.createElement("img");
      img.alt = `camera ${camera.name}`;
      const caption = document.createElement("figcaption");
      tile.append(img, caption);
      tile.addEventListener("click", () => showLarge(camera.name));
      tiles.append(tile);
    }
    tile.classList.toggle("shown", camera.name === shown);
    tile.classList.toggle("failing", camera.camera.state !== "live");
    const who = camera.people.map((p) => p.name || shortHash(p.hash));
    const unknown = camera.faces - camera.people.length;
    if (unknown > 0) who.push(unknown === 1 ? "1 unknown" : `${unknown} unknown`);
    tile.querySelector("figcaption").textContent = `${camera.name} · ` +
      (camera.camera.state === "live" ? (who.join(", ") || "nobody") : `${camera.camera.state}: ${camera.camera.detail}`);
    tile.querySelector("img").src = `/cameras/${encodeURIComponent(camera.name)}/snapshot?at=${Date.now()}`;
  }
}

async function start() {
  const stream = document.getElementById("stream");
  // The stream first: with a key, its prompt comes once, and the lists below then read with it.
  if (stream) await showPicture(stream, stream.dataset.src, 1000);
  refreshNow();
  refreshEnrolled();
  refreshTiles();
  setInterval(refreshNow, 500);
  setInterval(refreshTiles, 1000);
}

start();
