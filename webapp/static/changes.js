// Sending a change to the server, shared by the pages. With --api-key the server refuses changes
// without X-API-Key: ask once, keep it for this tab.
"use strict";

const KEY_STORAGE = "faceapp-api-key";

async function sendChange(url, body, method = "POST") {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { "Content-Type": "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    const response = await fetch(url, { method, headers, body: JSON.stringify(body) });
    const data = await response.json();
    if (response.status !== 401 || !data.needs_key || attempt > 0) return { response, data };
    const given = window.prompt(key ? "That API key was refused. API key:" : "This server needs its API key:", "");
    if (given === null) return { response, data };
    sessionStorage.setItem(KEY_STORAGE, given);
  }
}

// A multipart form (photos, camera frames), with the key as above; an answer that is not JSON (a
// proxy's 413 page) or a network failure comes back as an error the page can show.
async function sendForm(url, form) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = {};
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    let response, data;
    try {
      response = await fetch(url, { method: "POST", headers, body: form });
      data = await response.json();
    } catch (error) {
      return { response: response || { ok: false, status: 0 }, data: { error: `the upload failed: ${error.message}` } };
    }
    if (response.status !== 401 || !data.needs_key || attempt > 0) return { response, data };
    const given = window.prompt("This server needs its API key:", "");
    if (given === null) return { response, data };
    sessionStorage.setItem(KEY_STORAGE, given);
  }
}
