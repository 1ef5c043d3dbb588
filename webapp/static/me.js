// The signed-in person's page: sign out, or delete yourself for good.
"use strict";

const $ = (id) => document.getElementById(id);
const created = $("me-created");
created.textContent = new Date(created.dateTime).toLocaleString();

function say(text, kind = "") {
  $("message").textContent = text;
  $("message").className = kind;
}

async function post(url, body) {
  try {
    return await sendChange(url, body);  // changes.js
  } catch (error) {  // the network, or an answer that is not JSON
    return { response: { ok: false }, data: { error: error.message } };
  }
}

$("signout").addEventListener("click", async () => {
  const { response, data } = await post("/signout", {});
  if (response.ok) window.location.assign("/signin");
  else say(data.error || "that did not work", "error");
});

$("delete").addEventListener("click", async () => {
  if (!window.confirm("Delete yourself from this server for good? Your face vectors and email binding are erased.")) return;
  const { response, data } = await post("/me/delete", { confirm: true });
  if (response.ok) {
    say("deleted: nothing of you is left on this server", "ok");
    setTimeout(() => window.location.assign("/signup"), 1500);
  } else {
    say(data.error || "that did not work", "error");
  }
});
