/**
 * latch-client.js — a small browser client for latch's token mode.
 *
 * Copy this file into your app (it has no dependencies and needs no build).
 * It keeps the access token in a JavaScript variable only, and lets the
 * browser hold the refresh token in latch's HttpOnly; SameSite=Strict cookie
 * (scoped to /v1/token), which no script can read.
 *
 *   import { LatchClient } from "/static/latch-client.js";
 *
 *   const latch = new LatchClient();          // same origin as latch; or { base: "https://auth.example" }
 *   latch.subscribe(() => render(latch));      // called on login, refresh, logout, in this tab or another
 *   if (!(await latch.restore())) showLogin(); // silent refresh on load: a reload keeps you signed in
 *   await latch.login(email, password);        // throws LatchError { status, code, title } on refusal
 *   const res = await latch.fetch("/v1/whoami"); // adds the bearer token; on 401 refreshes once, retries
 *   await latch.logout();                      // revokes the token family, clears the cookie, tells other tabs
 *
 * What it does about the problems of this design:
 * - Expiry: fetch() refreshes before sending when the token is about to
 *   expire, and once more after a 401; a second 401 is returned to you.
 * - Several tabs: refreshes take turns under one Web Lock
 *   (navigator.locks, "latch-refresh"). A tab that waited for the lock and
 *   meanwhile received a fresh token from another tab (BroadcastChannel
 *   "latch") uses it instead of refreshing again, so two tabs never present
 *   the same refresh token. Rotation would otherwise see the second use as
 *   reuse and revoke the family; latch's --refresh-reuse-grace is a safety
 *   net behind this, not the defence. Login and logout are broadcast too.
 * - XSS: keeping the token in memory hides it from scripts that scrape
 *   storage, but not from a payload running in your page (it can wrap fetch,
 *   or call this client). Your CSP is the defence; see /demo/storage.
 *
 * Browsers without navigator.locks (old ones) refresh without the lock; the
 * server's reuse grace then covers the rare race.
 */

/** LatchError is a refusal from latch: its HTTP status and problem code. */
export class LatchError extends Error {
  constructor(status, code, title) {
    super(title || code || `HTTP ${status}`);
    this.name = "LatchError";
    this.status = status;
    this.code = code || "";
  }
}

/** decodeJWT returns a JWT's header and claims (without verifying it). */
export function decodeJWT(token) {
  const part = (s) => {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  };
  const [h, p] = token.split(".");
  return { header: part(h), claims: part(p) };
}

/** LatchClient is one tab's view of a token login. */
export class LatchClient {
  #base;
  #lockName;
  #token = null; // the access token: this variable is the only place it lives
  #decoded = null;
  #expiresAt = 0; // ms, local clock (from expires_in, so a skewed clock does not matter)
  #lifetime = 0; // ms
  #user = null;
  #generation = 0; // bumped whenever the token changes, here or from another tab
  #refreshes = 0;
  #listeners = new Set();
  #channel = null;

  constructor({ base = "", lockName = "latch-refresh", channelName = "latch" } = {}) {
    this.#base = base;
    this.#lockName = lockName;
    if (typeof BroadcastChannel === "function") {
      this.#channel = new BroadcastChannel(channelName);
      this.#channel.onmessage = (e) => this.#onMessage(e.data);
    }
  }

  /** signedIn reports whether this tab holds an access token. */
  get signedIn() { return this.#token !== null; }
  /** user is the user object of the last login or refresh ({id, email, ...}). */
  get user() { return this.#user; }
  /** decoded is the access token's {header, claims}, or null. */
  get decoded() { return this.#decoded; }
  /** refreshCount is how many refreshes this tab made itself. */
  get refreshCount() { return this.#refreshes; }
  /** expiresIn is the access token's remaining life in seconds (0 when none). */
  expiresIn() { return this.#token ? Math.max(0, (this.#expiresAt - Date.now()) / 1000) : 0; }

  /** subscribe calls fn after every change; it returns the unsubscribe function. */
  subscribe(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** login signs in with a password; the refresh token goes into the HttpOnly cookie. */
  async login(email, password) {
    const res = await fetch(this.#base + "/v1/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password, mode: "token", refresh_delivery: "cookie" }),
    });
    const body = await LatchClient.#read(res);
    this.#set(body);
    this.#post({ type: "token", body });
  }

  /** restore signs this tab in from the refresh cookie (a silent refresh); false when there is no login. */
  async restore() {
    try {
      return await this.refresh();
    } catch (e) {
      if (e instanceof LatchError && e.status === 401) return false;
      throw e;
    }
  }

  /**
   * refresh gets a new access token, one tab at a time. It resolves true
   * when this tab holds a valid token afterwards, false when the login is
   * over (the tab is then signed out); it throws on other failures.
   */
  async refresh() {
    const started = this.#generation;
    const run = async () => {
      // Another tab, or another call in this tab, refreshed while we waited.
      if (this.#generation !== started && this.#fresh()) return true;
      const res = await fetch(this.#base + "/v1/token/refresh", { method: "POST", credentials: "same-origin" });
      if (res.status === 401) {
        this.#clear();
        return false;
      }
      const body = await LatchClient.#read(res);
      this.#refreshes++;
      this.#set(body);
      this.#post({ type: "token", body });
      return true;
    };
    if (globalThis.navigator && navigator.locks) return navigator.locks.request(this.#lockName, run);
    return run();
  }

  /** fetch is window.fetch with the bearer token, refreshing before expiry and once after a 401. */
  async fetch(input, init = {}) {
    if (!this.#fresh() && !(await this.refresh())) {
      return new Response(JSON.stringify({ status: 401, code: "unauthenticated" }), { status: 401 });
    }
    let res = await this.#send(input, init);
    if (res.status === 401 && (await this.refresh())) res = await this.#send(input, init);
    return res;
  }

  /** logout revokes this login (every tab's token and the refresh cookie) and signs every tab out. */
  async logout() {
    try {
      if (this.#fresh() || (await this.refresh())) {
        await fetch(this.#base + "/v1/logout", {
          method: "POST", credentials: "same-origin", headers: { Authorization: "Bearer " + this.#token },
        });
      }
    } finally {
      this.#clear();
      this.#post({ type: "logout" });
    }
  }

  #send(input, init) {
    const headers = new Headers(init.headers || {});
    headers.set("Authorization", "Bearer " + this.#token);
    const url = typeof input === "string" && input.startsWith("/") ? this.#base + input : input;
    return fetch(url, { ...init, headers, credentials: "omit" });
  }

  // fresh: a token that will not expire within a quarter of its lifetime (at most 5 s).
  #fresh() {
    if (!this.#token) return false;
    return this.#expiresAt - Date.now() > Math.min(5000, this.#lifetime / 4);
  }

  #set(body) {
    this.#token = body.access_token;
    this.#decoded = decodeJWT(body.access_token);
    this.#lifetime = body.expires_in * 1000;
    this.#expiresAt = Date.now() + this.#lifetime;
    this.#user = body.user || this.#user;
    this.#generation++;
    this.#emit();
  }

  #clear() {
    if (this.#token === null && this.#user === null) return;
    this.#token = this.#decoded = this.#user = null;
    this.#expiresAt = this.#lifetime = 0;
    this.#generation++;
    this.#emit();
  }

  #onMessage(msg) {
    if (msg && msg.type === "token" && msg.body) this.#set(msg.body);
    else if (msg && msg.type === "logout") this.#clear();
  }

  #post(msg) {
    if (this.#channel) this.#channel.postMessage(msg);
  }

  #emit() {
    for (const fn of this.#listeners) {
      try { fn(this); } catch (e) { console.error(e); }
    }
  }

  static async #read(res) {
    let body = null;
    try { body = await res.json(); } catch { /* an empty or non-JSON answer */ }
    if (!res.ok) throw new LatchError(res.status, body && body.code, body && body.title);
    return body;
  }
}
