// The albums page: indexing progress, search by a photo with a strictness slider, a preview with
// download, and the people found in the albums. Everything comes from the JSON API.
"use strict";

const $ = (id) => document.getElementById(id);
let query = null;

function photoUrl(match, extra) {
  const params = new URLSearchParams({album: match.album, photo: match.photo, ...extra});
  return "/album/photo?" + params.toString();
}

function say(text, kind) {
  $("message").textContent = text;
  $("message").className = kind || "muted";
}

async function progress() {
  const answer = await fetch("/album");
  const body = await answer.json();
  if (!answer.ok) { $("progress-text").textContent = body.error; return; }
  $("progress").max = Math.max(body.total, 1);
  $("progress").value = body.done;
  $("progress-text").textContent = `${body.state}: ${body.done} of ${body.total} photos looked at, ` +
    `${body.photos} indexed, ${body.faces} faces, ${body.skipped} skipped`;
  if (body.state === "indexing") setTimeout(progress, 1000);
}

function figure(match, caption) {
  const item = document.createElement("figure");
  const image = document.createElement("img");
  image.src = photoUrl(match, {box: match.box.join(","), size: 256});
  image.alt = match.photo;
  image.addEventListener("click", () => preview(match));
  const text = document.createElement("figcaption");
  text.textContent = caption;
  item.append(image, text);
  return item;
}

function preview(match) {
  $("preview-image").src = photoUrl(match, {box: match.box.join(","), size: 1024});
  $("download").href = photoUrl(match, {});
  $("preview").showModal();
}

async function search() {
  if (!query) return;
  const form = new FormData();
  form.append("image", query);
  form.append("threshold", $("strictness").value);
  say("searching…");
  const answer = await fetch("/album/search", {method: "POST", body: form});
  const body = await answer.json();
  $("results").replaceChildren();
  if (!answer.ok) { say(body.error, "error"); return; }
  for (const match of body.matches) {
    $("results").append(figure(match, `${match.album}/${match.photo} · ${match.similarity.toFixed(3)}`));
  }
  say(`${body.matches.length} photo(s) at strictness ${body.threshold.toFixed(2)}` +
      (body.query_faces > 1 ? ` (the largest of ${body.query_faces} faces)` : ""), "ok");
}

async function people() {
  const answer = await fetch("/album/people");
  const body = await answer.json();
  $("people").replaceChildren();
  if (!answer.ok) { say(body.error, "error"); return; }
  const title = document.createElement("h2");
  title.textContent = `${body.people.length} people; ${body.unassigned} face(s) in no group`;
  $("people").append(title);
  for (const person of body.people) {
    const group = document.createElement("div");
    group.className = "person grid";
    group.dataset.id = person.id;
    for (const face of person.faces.slice(0, 8)) group.append(figure(face, face.photo));
    $("people").append(group);
  }
}

$("query").addEventListener("change", () => { query = $("query").files[0] || null; search(); });
$("strictness").addEventListener("input", () => { $("strictness-value").textContent = Number($("strictness").value).toFixed(2); });
$("strictness").addEventListener("change", search);
$("show-people").addEventListener("click", people);
$("close").addEventListener("click", () => $("preview").close());
$("drop").addEventListener("dragover", (event) => event.preventDefault());
$("drop").addEventListener("drop", (event) => {
  event.preventDefault();
  query = event.dataTransfer.files[0] || null;
  search();
});
progress();
