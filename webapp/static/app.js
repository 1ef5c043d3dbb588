// Polls /hash for who is on camera, lists enrolled people, and enrolls on the 'a' key. With --api-key
// every read needs the key (changes.js asks for it once); the stream's <img> needs a viewer cookie.
"use strict";

const statusLine = document.getElementById("status");
const nowList = document.getElementById("now");
const enrolledList = document.getElementById("enrolled");
const outcome = document.getElementById("outcome");

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
    const { response, data } = await readJSON("/hash");
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
  const { response, data } = await sendChange("/enroll", { name });
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

async function start() {
  const stream = document.getElementById("stream");
  // The stream first: with a key, its prompt comes once, and the lists below then read with it.
  if (stream) await showPicture(stream, stream.dataset.src, 1000);
  refreshNow();
  refreshEnrolled();
  setInterval(refreshNow, 500);
}

start();
