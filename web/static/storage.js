// The storage lab (/demo/storage): one login kept three ways, experiments
// run live, and the table filled from their outcomes (API.md §7). The
// progress across the reload is kept in sessionStorage: public session
// handles and yes/no answers, never a credential.
import { decodeJWT } from "/static/latch-client.js";

const STATE = "latch-lab-state";
const LS_TOKEN = "access_token"; // the localStorage way, named as apps name it
const WAYS = ["memory", "localstorage", "cookie"];
let memoryToken = null; // the memory way: module scope, in no global

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const cell = (way, name) => document.querySelector(`[data-testid="lab-row"][data-way="${way}"] [data-testid="${name}"]`);
const statusLine = document.getElementById("lab-status");
const errorBox = $("error");
const yes = (b) => (b ? "yes" : "no");

async function call(path, init = {}) {
  const res = await fetch(path, init);
  let body = null;
  try { body = await res.json(); } catch { /* 204 */ }
  return { status: res.status, body };
}

function json(body) {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

function randomText(n) {
  const a = new Uint8Array(n);
  crypto.getRandomValues(a);
  return btoa(String.fromCharCode(...a)).replace(/[+/=]/g, "x");
}

function csrfCookie() {
  const m = document.cookie.match(/(?:^|;\s*)(?:__Host-)?latch_csrf=([^;]*)/);
  return m ? m[1] : "";
}

function fill(results) {
  for (const way of WAYS) {
    for (const [name, v] of Object.entries(results[way] || {})) cell(way, name).textContent = v;
  }
}

function reset() {
  for (const way of WAYS) {
    for (const name of ["survives-reload", "script-can-read", "script-can-use", "sent-automatically"]) cell(way, name).textContent = "–";
  }
  $("lab-done").hidden = true;
  errorBox.hidden = true;
}

// inject adds the payload as an XSS would, lets the app make its usual
// calls while the payload watches, and returns what the payload got.
function inject() {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the payload did not report")), 10000);
    window.addEventListener("lab-payload-ready", async () => {
      // The app at work: its own calls with the tokens it holds.
      await call("/v1/whoami", { headers: { Authorization: "Bearer " + memoryToken }, credentials: "omit" });
      await call("/v1/whoami", { headers: { Authorization: "Bearer " + localStorage.getItem(LS_TOKEN) }, credentials: "omit" });
      window.dispatchEvent(new Event("lab-go"));
    }, { once: true });
    window.addEventListener("lab-loot", (e) => {
      clearTimeout(timer);
      resolve(JSON.parse(e.detail));
    }, { once: true });
    const s = document.createElement("script");
    s.src = "/static/lab-payload.js";
    document.body.append(s);
  });
}

async function run() {
  reset();
  $("lab-run").disabled = true;
  sessionStorage.removeItem(STATE);
  localStorage.removeItem(LS_TOKEN);
  memoryToken = null;
  statusLine.textContent = "Creating a throwaway account and signing it in three ways…";
  const email = `lab-${randomText(9).toLowerCase()}@example.com`;
  const password = randomText(18);
  let r = await call("/v1/signup", json({ email, password }));
  if (r.status !== 201) throw new Error("signup " + r.status);

  const tokenLogin = async () => {
    const res = await call("/v1/login", { ...json({ email, password, mode: "token", refresh_delivery: "body" }), credentials: "omit" });
    if (res.status !== 200) throw new Error("login " + res.status);
    return res.body.access_token;
  };
  memoryToken = await tokenLogin();
  localStorage.setItem(LS_TOKEN, await tokenLogin());
  r = await call("/v1/login", { ...json({ email, password, mode: "session" }), credentials: "same-origin" });
  if (r.status !== 200) throw new Error("session login " + r.status);
  const sids = {
    memory: decodeJWT(memoryToken).claims.sid,
    localstorage: decodeJWT(localStorage.getItem(LS_TOKEN)).claims.sid,
    cookie: r.body.session.id,
  };

  statusLine.textContent = "Injecting the payload…";
  const loot = await inject();
  const values = { memory: memoryToken, localstorage: localStorage.getItem(LS_TOKEN) };
  const usedSids = new Set(loot.calls.map((c) => c.sid));
  const results = {};
  for (const way of WAYS) {
    const read = way === "cookie"
      ? loot.found.some((f) => f.where === "document.cookie" && /latch_session$/.test(f.name))
      : loot.found.some((f) => f.value === values[way]);
    results[way] = { "script-can-read": yes(read), "script-can-use": yes(usedSids.has(sids[way])) };
  }

  statusLine.textContent = "Making a request the page does not credential…";
  r = await call("/v1/whoami"); // no Authorization header; the browser's defaults
  const auto = r.status === 200 ? r.body.auth.session_id : "";
  for (const way of WAYS) results[way]["sent-automatically"] = yes(auto === sids[way]);
  fill(results);

  // The memory way's family is revoked now: its token dies with the page anyway.
  await call("/v1/logout", { method: "POST", headers: { Authorization: "Bearer " + memoryToken }, credentials: "omit" });
  statusLine.textContent = "Reloading the page…";
  sessionStorage.setItem(STATE, JSON.stringify({ phase: "reloaded", sids, results }));
  location.reload();
}

async function afterReload(state) {
  const { sids, results } = state;
  $("lab-run").disabled = true;
  statusLine.textContent = "Checking what survived the reload…";
  const alive = async (way, init) => {
    const r = await call("/v1/whoami", init);
    return r.status === 200 && r.body.auth.session_id === sids[way];
  };
  const stored = localStorage.getItem(LS_TOKEN);
  results.memory["survives-reload"] = yes(memoryToken !== null &&
    (await alive("memory", { headers: { Authorization: "Bearer " + memoryToken }, credentials: "omit" })));
  results.localstorage["survives-reload"] = yes(stored !== null &&
    (await alive("localstorage", { headers: { Authorization: "Bearer " + stored }, credentials: "omit" })));
  results.cookie["survives-reload"] = yes(await alive("cookie", { credentials: "same-origin" }));
  fill(results);

  // Clean up: end the lab's logins and forget its token.
  if (stored) await call("/v1/logout", { method: "POST", headers: { Authorization: "Bearer " + stored }, credentials: "omit" });
  await call("/v1/logout", { method: "POST", headers: { "X-CSRF-Token": csrfCookie() }, credentials: "same-origin" });
  localStorage.removeItem(LS_TOKEN);
  sessionStorage.removeItem(STATE);
  statusLine.textContent = "Done. Every cell above comes from this run.";
  $("lab-done").hidden = false;
  $("lab-run").disabled = false;
}

function failed(err) {
  console.error(err);
  sessionStorage.removeItem(STATE);
  localStorage.removeItem(LS_TOKEN);
  errorBox.textContent = "An experiment could not finish, so the table is incomplete. Run it again in a moment.";
  errorBox.hidden = false;
  statusLine.textContent = "Stopped.";
  $("lab-run").disabled = false;
}

$("lab-run").addEventListener("click", () => run().catch(failed));
const saved = sessionStorage.getItem(STATE);
if (saved) {
  try {
    afterReload(JSON.parse(saved)).catch(failed);
  } catch (err) {
    failed(err);
  }
}
