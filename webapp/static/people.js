// The people page: everyone enrolled (vectors only, no photo), rename, delete, more photos, "not this
// person", the classifier's training and a prediction. Everything goes through the JSON API.
"use strict";

const $ = (id) => document.getElementById(id);

function say(text, kind) {
  $("message").textContent = text;
  $("message").className = kind || "muted";
}

async function upload(url, field, files) {
  const form = new FormData();
  for (const file of files) form.append(field, file);
  return sendForm(url, form);
}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function fileInput(label, onFiles, multiple) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = "image/*";
  input.multiple = Boolean(multiple);
  input.title = label;
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = "";  // the same file can be picked again
    if (files.length) onFiles(files);
  });
  return input;
}

function row(person) {
  const tr = document.createElement("tr");
  tr.dataset.hash = person.hash;
  tr.dataset.name = person.name || "";
  const name = document.createElement("input");
  name.className = "person-name";
  name.value = person.name || "";
  name.placeholder = person.hash.slice(0, 12);
  name.addEventListener("change", async () => {
    const wanted = name.value.trim() || null;
    if (wanted === (person.name || null)) return;  // unchanged (a blur after the change was saved)
    const { response, data } = await sendChange(`/faces/${person.hash}`, { name: wanted }, "PATCH");
    if (response.ok) person.name = data.name;
    say(response.ok ? `renamed to ${data.name || "no name"}` : data.error, response.ok ? "ok" : "error");
  });
  const photos = document.createElement("span");
  photos.className = "vectors";
  photos.textContent = person.vectors;
  const more = fileInput("add photos of this person", async (files) => {
    const { response, data } = await upload(`/faces/${person.hash}/photos`, "image", files);
    say(response.ok ? `added ${data.added} photo(s) to ${data.name || "them"}` : data.error, response.ok ? "ok" : "error");
    refresh();
  }, true);
  more.className = "add-photos";
  const camera = document.createElement("button");
  camera.type = "button";
  camera.className = "camera";
  camera.textContent = "camera";
  camera.title = "take a photo of this person with this device's camera";
  camera.addEventListener("click", () => photograph(person));
  const not = fileInput("a photo of someone this person is mistaken for", async (files) => {
    const { response, data } = await upload(`/faces/${person.hash}/not`, "image", files);
    say(response.ok ? "recorded: that face is not them" : data.error, response.ok ? "ok" : "error");
  });
  not.className = "not-this-person";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "delete";
  remove.textContent = "delete";
  remove.addEventListener("click", async () => {
    if (!window.confirm(`Delete ${person.name || "this person"} and every vector of them, for good?`)) return;
    const { response, data } = await sendChange(`/faces/${person.hash}`, {}, "DELETE");
    say(response.ok ? `deleted ${person.name || person.hash.slice(0, 12)}` : data.error, response.ok ? "ok" : "error");
    refresh();
  });
  const created = new Date(person.created * 1000).toISOString().slice(0, 10);
  const traits = person.attributes
    ? `${Math.round(person.attributes.age.value)}, ${person.attributes.gender.value}, ${person.attributes.emotion.value}`
    : "";
  tr.append(cell(name), cell(photos), cell(created), cell(traits), cell(more, " ", camera), cell(not), cell(remove));
  return tr;
}

// The browser's camera: the picture goes straight to the server as one more photo of the person;
// nothing is kept in the page, and the camera is released as soon as the dialog closes.
let stream = null;
let subject = null;

async function photograph(person) {
  subject = person;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: false });
  } catch (error) {
    say(`the camera cannot be used: ${error.message}`, "error");
    return;
  }
  $("camera-view").srcObject = stream;
  $("camera").showModal();
}

function closeCamera() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  $("camera").close();
}

$("snap").addEventListener("click", async () => {
  const view = $("camera-view");
  const canvas = document.createElement("canvas");
  canvas.width = view.videoWidth;
  canvas.height = view.videoHeight;
  canvas.getContext("2d").drawImage(view, 0, 0);
  closeCamera();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  const { response, data } = await upload(`/faces/${subject.hash}/photos`, "image", [new File([blob], "camera.jpg")]);
  say(response.ok ? `added 1 photo from the camera to ${data.name || "them"}` : data.error, response.ok ? "ok" : "error");
  refresh();
});
$("camera-close").addEventListener("click", closeCamera);
$("camera").addEventListener("close", () => {  // Esc closes the dialog too: the camera goes off with it
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
});

async function refresh() {
  try {
    const { response: answer, data: body } = await readJSON("/faces");  // changes.js: with the key
    if (!answer.ok) { say(body.error, "error"); return; }
    $("people").replaceChildren(...body.faces.map(row));
    if (!body.faces.length) say("nobody is enrolled yet: press 'a' on the live page, or POST /enroll", "muted");
  } catch (error) {
    say(`the people could not be listed: ${error.message}`, "error");
  }
}

$("import").addEventListener("change", async () => {
  const file = $("import").files[0];
  $("import").value = "";
  if (!file) return;
  say("importing… (every photo is checked)");
  const { response, data } = await upload("/people/import", "zip", [file]);
  $("imported").replaceChildren();
  if (!response.ok) { say(data.error, "error"); return; }
  say(`${data.created.length} enrolled, ${data.updated.length} given more photos, ${data.added} photos added`, "ok");
  for (const skipped of data.skipped) {
    const li = document.createElement("li");
    li.textContent = `${skipped.photo}: ${skipped.detail}`;
    li.className = "muted";
    $("imported").append(li);
  }
  refresh();
});

$("train").addEventListener("click", async () => {
  $("report").textContent = "training…";
  const { response, data } = await sendChange("/train_model", {});
  $("report").textContent = response.ok
    ? `method ${data.method}, ${data.people} people, ${data.vectors} vectors\n` +
      `cross-validated accuracy ${data.cv_accuracy}\nstrangers refused ${data.unknown_rejection}`
    : data.error;
  $("report").className = response.ok ? "ok" : "error";
});

$("predict").addEventListener("change", async () => {
  const file = $("predict").files[0];
  $("predict").value = "";
  if (!file) return;
  const { response, data } = await upload("/predict_face", "file", [file]);
  $("predicted").replaceChildren();
  if (!response.ok) { say(data.error, "error"); return; }
  for (const face of data.faces) {
    const li = document.createElement("li");
    li.textContent = face.known ? `${face.name || face.hash.slice(0, 12)} (${face.probability})` : "unknown";
    li.className = face.known ? "known" : "unknown";
    $("predicted").append(li);
  }
  if (!data.faces.length) say("no face was found in that photo", "muted");
  if (data.stale) say("the people changed since training: train again for the latest", "muted");
});

refresh();
