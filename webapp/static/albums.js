// The albums page: indexing progress, search by a photo with a strictness slider, a preview with
// download, and the people found in the albums: name, link, merge, split, hide (and show again), and
// suggestions for faces in no person, confirmed with one click. Everything comes from the JSON API, with the key when
// the server has one (changes.js); photos show once the page holds a viewer cookie.
"use strict";

const $ = (id) => document.getElementById(id);
let query = null;

function videoOf(match) {  // a search match names its video; a person's face says it is in one
  return typeof match.video === "string" ? match.video : (match.video ? match.photo : null);
}

function photoUrl(match, extra) {  // a photo, or the frame of a video where the face was seen best
  const video = videoOf(match);
  if (video !== null) {
    return "/album/frame?" + new URLSearchParams({album: match.album, video, at: match.at, ...extra}).toString();
  }
  const params = new URLSearchParams({album: match.album, photo: match.photo, ...extra});
  return "/album/photo?" + params.toString();
}

function clock(seconds) {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function where(match) {  // "album/path", and when in a video
  const video = videoOf(match);
  return video === null ? `${match.album}/${match.photo}` : `${match.album}/${video} at ${clock(match.at)}`;
}

function say(text, kind) {
  $("message").textContent = text;
  $("message").className = kind || "muted";
}

async function progress() {
  let answer, body;
  try {
    ({ response: answer, data: body } = await readJSON("/album"));
  } catch (error) {
    $("progress-text").textContent = `the albums could not be read: ${error.message}`;
    return;
  }
  if (!answer.ok) {
    $("albums").textContent = answer.status === 404 ? "no album: start the server with --album DIR" : "";
    $("progress-text").textContent = body.error;
    return;
  }
  $("albums").textContent = body.albums.join(", ");
  $("progress").max = Math.max(body.total, 1);
  $("progress").value = body.done;
  $("progress-text").textContent = `${body.state}: ${body.done} of ${body.total} photos and videos looked at, ` +
    `${body.photos} indexed, ${body.faces} faces, ${body.skipped} skipped`;
  if (body.state === "indexing") setTimeout(progress, 1000);
}

function boxed(match) {  // a face the index no longer has (the photo changed) is shown without its box
  return match.box ? {box: match.box.join(",")} : {};
}

function figure(match, caption) {
  const item = document.createElement("figure");
  const image = document.createElement("img");
  image.alt = where(match);
  showPicture(image, photoUrl(match, {...boxed(match), size: 256}));
  image.addEventListener("click", () => preview(match));
  const text = document.createElement("figcaption");
  text.textContent = caption;
  item.append(image, text);
  return item;
}

function preview(match) {
  $("preview-image").removeAttribute("src");
  showPicture($("preview-image"), photoUrl(match, {...boxed(match), size: 1024}));
  $("download").href = photoUrl(match, {});  // a same-site link: the viewer cookie goes with it
  $("preview").showModal();
}

async function search() {
  if (!query) return;
  const form = new FormData();
  form.append("image", query);
  form.append("threshold", $("strictness").value);
  say("searching…");
  const { response: answer, data: body } = await sendForm("/album/search", form);  // changes.js: with the key
  $("results").replaceChildren();
  if (!answer.ok) { say(body.error, "error"); return; }
  for (const match of body.matches) {
    $("results").append(figure(match, `${where(match)} · ${match.similarity.toFixed(3)}`));
  }
  say(`${body.matches.length} photo(s) and video(s) at strictness ${body.threshold.toFixed(2)}` +
      (body.query_faces > 1 ? ` (the largest of ${body.query_faces} faces)` : ""), "ok");
}

const SHOWN_FACES = 12;  // of a person at first; "show all" shows the rest
let showingHidden = false;  // the people list shows the hidden people instead (to show them again)

async function people() {
  let body, identities;
  try {
    const { response: answer, data } = await readJSON(showingHidden ? "/album/people?hidden=1" : "/album/people");
    body = data;
    if (!answer.ok) { say(body.error, "error"); return; }
    const enrolled = await readJSON("/faces");
    identities = enrolled.response.ok ? enrolled.data.faces : [];
  } catch (error) {
    say(`the people could not be listed: ${error.message}`, "error");
    return;
  }
  $("people").replaceChildren();
  const title = document.createElement("h2");
  title.textContent = showingHidden ? `${body.people.length} hidden people`
    : `${body.people.length} people; ${body.unassigned} face(s) in no group`;
  const hiddenToggle = document.createElement("button");
  hiddenToggle.type = "button";
  hiddenToggle.id = "show-hidden";
  hiddenToggle.textContent = showingHidden ? "back to the people" : "show hidden";
  hiddenToggle.addEventListener("click", () => { showingHidden = !showingHidden; people(); });
  const suggested = document.createElement("button");
  suggested.type = "button";
  suggested.id = "show-suggestions";
  suggested.textContent = "suggestions";
  suggested.title = "faces in no person, and who each might be";
  suggested.addEventListener("click", suggestions);
  const tools = document.createElement("p");
  tools.append(hiddenToggle, " ", suggested);
  $("people").append(title, tools);
  for (const person of body.people) $("people").append(personView(person, body.people, identities));
}

function option(value, text, selected) {
  const item = document.createElement("option");
  item.value = value;
  item.textContent = text;
  item.selected = Boolean(selected);
  return item;
}

function personView(person, everyone, identities) {
  const view = document.createElement("div");
  view.className = "person";
  view.dataset.id = person.id;
  const head = document.createElement("p");
  const name = document.createElement("input");
  name.className = "person-name";
  name.value = person.name || "";
  name.placeholder = "name this person";
  name.addEventListener("change", () => correct(`/album/people/${person.id}`, {name: name.value.trim() || null}, "PATCH"));
  const merge = document.createElement("select");
  merge.className = "merge-into";
  merge.append(option("", "same person as…"));
  merge.addEventListener("focus", () => {  // filled when opened: a list per person would grow as N²
    if (merge.options.length > 1) return;
    for (const other of everyone) {
      if (other.id !== person.id) merge.append(option(other.id, other.name || `${other.size} photos (${other.faces[0].photo})`));
    }
  });
  merge.addEventListener("change", () => merge.value && correct(`/album/people/${person.id}/merge`, {into: merge.value}));
  const link = document.createElement("select");
  link.className = "link";
  link.append(option("", "not linked to an enrolled person"));
  for (const identity of identities) {
    link.append(option(identity.hash, identity.name || identity.hash.slice(0, 12), identity.hash === person.identity));
  }
  link.addEventListener("change", () => correct(`/album/people/${person.id}`, {identity: link.value || null}, "PATCH"));
  const size = document.createElement("span");
  size.className = "muted";
  size.textContent = `${person.size} photo(s)`;
  const forget = document.createElement("button");
  forget.type = "button";
  forget.className = "forget";
  forget.textContent = "forget";
  forget.title = "forget this person's name, link and corrections (the photos stay)";
  forget.addEventListener("click", () => correct(`/album/people/${person.id}`, {}, "DELETE"));
  const hide = document.createElement("button");
  hide.type = "button";
  hide.className = person.hidden ? "show" : "hide";
  hide.textContent = person.hidden ? "show" : "hide";
  hide.title = person.hidden ? "list this person again, and find their photos again"
    : "leave this person out of the list and of searches (until shown again)";
  hide.addEventListener("click", () => correct(`/album/people/${person.id}`, {hidden: !person.hidden}, "PATCH"));
  const chosen = new Map();  // face key -> face, chosen to split off
  const split = document.createElement("button");
  split.type = "button";
  split.className = "split";
  split.textContent = "split into a new person";
  split.title = "the faces ticked below are someone else";
  split.disabled = true;
  split.addEventListener("click", () => correct(`/album/people/${person.id}/split`,
    {faces: [...chosen.values()].map((face) => ({album: face.album, photo: face.photo, face: face.face}))}));
  const choose = (face, on) => {
    const key = `${face.album}/${face.photo}#${face.face}`;
    if (on) chosen.set(key, face); else chosen.delete(key);
    split.disabled = chosen.size === 0 || chosen.size === person.faces.length;  // a split leaves a face
  };
  head.append(name, " ", merge, " ", link, " ", size, " ", hide, " ", split, " ", forget);
  const grid = document.createElement("div");
  grid.className = "grid";
  const showFaces = (faces) => grid.replaceChildren(...faces.map((face) => faceView(person, face, choose)));
  showFaces(person.faces.slice(0, SHOWN_FACES));
  view.append(head, grid);
  if (person.faces.length > SHOWN_FACES) {
    const all = document.createElement("button");
    all.type = "button";
    all.textContent = `show all ${person.faces.length}`;
    all.addEventListener("click", () => { showFaces(person.faces); all.remove(); });
    view.append(all);
  }
  return view;
}

function faceView(person, face, choose) {
  const item = figure(face, face.video ? `${face.photo} at ${clock(face.at)}` : face.photo);
  const tick = document.createElement("input");
  tick.type = "checkbox";
  tick.className = "choose";
  tick.title = "choose this face to split it off";
  tick.addEventListener("change", () => choose(face, tick.checked));
  const out = document.createElement("button");
  out.type = "button";
  out.className = "take-out";
  out.title = "not this person: take this face out of the group";
  out.textContent = "not this person";
  out.addEventListener("click", () => correct(`/album/people/${person.id}/take-out`,
                                              {album: face.album, photo: face.photo, face: face.face}));
  item.append(tick, " ", out);
  return item;
}

async function suggestions() {
  const { response, data } = await readJSON("/album/people/suggestions");
  if (!response.ok) { say(data.error, "error"); return; }
  const title = document.createElement("h2");
  title.textContent = data.suggestions.length ? "Who might these be?"
    : "no suggestion: no face in no person looks enough like someone";
  const grid = document.createElement("div");
  grid.className = "grid";
  grid.append(...data.suggestions.map(suggestionView));
  $("suggestions").replaceChildren(title, grid);
}

function suggestionView(suggestion) {
  const face = suggestion.face;
  const item = figure(face, face.photo);
  item.className = "suggestion";
  for (const candidate of suggestion.candidates) {
    const confirm = document.createElement("button");
    confirm.type = "button";
    confirm.className = "confirm";
    confirm.dataset.person = candidate.id;
    confirm.textContent = `This is ${candidate.name || `person ${candidate.id.slice(0, 6)}`}`;
    confirm.title = `similarity ${candidate.similarity.toFixed(3)}`;
    confirm.addEventListener("click", async () => {
      await correct(`/album/people/${candidate.id}/faces`, {album: face.album, photo: face.photo, face: face.face});
      suggestions();
    });
    item.append(confirm, " ");
  }
  return item;
}

async function correct(url, body, method) {
  try {
    const { response, data } = await sendChange(url, body, method);
    if (!response.ok) { say(data.error || `the change failed (${response.status})`, "error"); return; }
    say("saved", "ok");
  } catch (error) {
    say(`the change failed: ${error.message}`, "error");
  }
  people();
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
viewerPass().then(progress);  // the key asked for once (with --api-key), before the reads that need it
