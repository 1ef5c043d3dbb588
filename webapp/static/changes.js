// Talking to the server with its API key, shared by the pages. With --api-key the server answers
// 401 {"needs_key": true} on everything but its open routes: the page asks for the key once, keeps it
// for this tab (sessionStorage) and sends it in the X-API-Key header. An <img> cannot send a header,
// so before showing pictures (the stream, album photos) the page buys a short-lived viewer cookie with
// the key (POST /auth/viewer) and renews it while it is open; the key itself never goes in a URL.
"use strict";

const KEY_STORAGE = "faceapp-api-key";
let keyDeclined = false;  // the person cancelled the prompt: reads stop asking until they choose to
let viewerTimer = null;

function keyHeaders(key, extra = {}) {
  return key ? { ...extra, "X-API-Key": key } : extra;
}

function keyNotice() {
  let notice = document.getElementById("key-needed");
  if (!notice) {
    notice = document.createElement("p");
    notice.id = "key-needed";
    notice.className = "error";
    notice.setAttribute("role", "alert");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "enter the API key";
    button.addEventListener("click", () => { if (askForKey(false)) window.location.reload(); });
    notice.append("This server needs its API key to show what is on this page. ", button);
    document.body.prepend(notice);
  }
  return notice;
}

function askForKey(refused) {
  const given = window.prompt(refused ? "That API key was refused. API key:" : "This server needs its API key:", "");
  if (given === null) {
    keyDeclined = true;
    keyNotice().hidden = false;
    return false;
  }
  keyDeclined = false;
  sessionStorage.setItem(KEY_STORAGE, given);
  const notice = document.getElementById("key-needed");
  if (notice) notice.hidden = true;
  return true;
}

// send(headers) makes the request. A 401 that asks for the key asks the person (a few times, saying
// when the key given was refused; for a read, not once they declined) and sends the request again with
// the key. The answer's JSON comes back as data.
async function withKey(send, { action = false } = {}) {
  let last = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    const used = sessionStorage.getItem(KEY_STORAGE);
    const response = await send(keyHeaders(used));
    const data = await response.json();
    last = { response, data };
    if (response.status !== 401 || !data.needs_key) return last;
    if (sessionStorage.getItem(KEY_STORAGE) !== used) continue;  // another request of the page got the key meanwhile
    if ((keyDeclined && !action) || attempt === 3) break;
    if (!askForKey(Boolean(used))) break;
  }
  keyNotice().hidden = false;
  return last;
}

// A JSON read (GET) with the key, as above.
async function readJSON(url) {
  return withKey((headers) => fetch(url, { headers, cache: "no-store" }));
}

async function sendChange(url, body, method = "POST") {
  return withKey((headers) => fetch(url, { method, headers: { ...headers, "Content-Type": "application/json" },
                                           body: JSON.stringify(body) }), { action: true });
}

// A multipart form (photos, camera frames), with the key as above; an answer that is not JSON (a
// proxy's 413 page) or a network failure comes back as an error the page can show.
async function sendForm(url, form) {
  try {
    return await withKey((headers) => fetch(url, { method: "POST", headers, body: form }), { action: true });
  } catch (error) {
    return { response: { ok: false, status: 0 }, data: { error: `the upload failed: ${error.message}` } };
  }
}

// Buy (or renew) the viewer cookie; true when this page holds one. It renews itself at half its life;
// fresh: buy a new one even if the page believes it holds one (a picture was refused).
let viewerUntil = 0;

async function viewerPass(fresh = false) {
  if (!fresh && Date.now() < viewerUntil) return true;
  let answer;
  try {
    answer = await withKey((headers) => fetch("/auth/viewer", { method: "POST", headers }));
  } catch (error) {
    return false;
  }
  if (!answer.response.ok) return false;
  const lifetime = answer.data.expires_in * 1000;
  viewerUntil = Date.now() + lifetime / 2;
  clearTimeout(viewerTimer);
  viewerTimer = setTimeout(() => viewerPass(true), lifetime / 2);
  return true;
}

// Show src in img once the page holds a viewer cookie; a picture that fails (the cookie expired while
// the tab slept, the server restarted) is tried again with a new cookie, up to `retries` times.
async function showPicture(img, src, retries = 1) {
  let tried = 0;
  img.addEventListener("error", async function again() {
    if (tried >= retries) { img.removeEventListener("error", again); return; }
    await new Promise((resolve) => setTimeout(resolve, 1000 * Math.min(30, 2 ** tried++)));
    if (await viewerPass(true)) img.src = src;
  });
  if (await viewerPass()) img.src = src;
}
