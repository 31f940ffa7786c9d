// A small Node API protected by latch access tokens, using the standard
// `jose` library against latch's JWKS — the Node twin of
// examples/resource-server (Go, the `verify` package). docs/guide-node-service.md
// walks through it; docs/node_test.go runs it against a real latch.
//
//   LATCH_ISSUER=http://127.0.0.1:8080 LATCH_CLIENT=rs1:SECRET node server.js
//
// Environment:
//   LATCH_ISSUER    latch's issuer URL, exactly the `iss` of its tokens (required)
//   LATCH_AUDIENCE  the `aud` this API requires (default: the issuer, latch's default --audience)
//   LATCH_ALG       the one algorithm accepted, latch's --jwt-alg (default EdDSA; ES256, RS256)
//   LATCH_CLIENT    ID:SECRET, one of latch's --client values, to follow revocations
//                   (required unless LATCH_NO_REVOCATION=1 says revocations may be ignored)
//   STALENESS_MS    how long the revocation stream may be down before every request gets 503 (10000)
//   ADDR            listen address (default 127.0.0.1:9091; port 0 picks a free port)
//
// Routes: GET /api/hello (bearer token) answers the caller's subject and role;
// GET /healthz is 200 while the process runs; GET /readyz is 503 while
// revocations cannot be checked. The first line on stderr is
// `listening addr=HOST:PORT`. SIGTERM or SIGINT stop it (exit 0).

import http from "node:http";
import { createRemoteJWKSet, jwtVerify, errors } from "jose";

const MAX_TOKEN_BYTES = 8 << 10; // latch refuses longer tokens unread; so do we
const LEEWAY_S = 60; // latch's leeway on exp, nbf and iat
const IDLE_MS = 20_000; // latch sends a comment line at least every 15 s

// ---- configuration --------------------------------------------------------

function config(env) {
  const issuer = env.LATCH_ISSUER;
  if (!issuer) throw new Error("LATCH_ISSUER is required");
  const alg = env.LATCH_ALG || "EdDSA";
  if (!["EdDSA", "ES256", "RS256"].includes(alg)) {
    throw new Error(`LATCH_ALG ${alg}: only EdDSA, ES256 or RS256 (an HS256 key is never published)`);
  }
  const noRevocation = env.LATCH_NO_REVOCATION === "1";
  const client = env.LATCH_CLIENT || "";
  const i = client.indexOf(":");
  if (!noRevocation && (i <= 0 || i === client.length - 1)) {
    throw new Error("LATCH_CLIENT=ID:SECRET is required: without it revocations would go unseen");
  }
  const [host, port] = splitAddr(env.ADDR || "127.0.0.1:9091");
  return {
    issuer,
    audience: env.LATCH_AUDIENCE || issuer,
    alg,
    clientId: noRevocation ? "" : client.slice(0, i),
    secret: noRevocation ? "" : client.slice(i + 1),
    staleness: Number(env.STALENESS_MS || 10_000),
    host,
    port,
  };
}

function splitAddr(addr) {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i) || "127.0.0.1", Number(addr.slice(i + 1))];
}

// ---- discovery (RFC 8414) --------------------------------------------------

// discover reads latch's metadata, retrying while latch starts.
async function discover(issuer, deadlineMs) {
  const url = issuer.replace(/\/$/, "") + "/.well-known/oauth-authorization-server";
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (res.ok) {
        const meta = await res.json();
        // The metadata must be about the issuer we were told to trust.
        if (meta.issuer !== issuer) throw new Error(`metadata names issuer ${meta.issuer}, not ${issuer}`);
        return meta;
      }
      throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      if (Date.now() > deadlineMs) throw new Error(`discovery at ${url}: ${err.message}`);
      await sleep(500);
    }
  }
}

// ---- the revocation stream (API.md §4, GET /v1/revocations) ----------------

// RevocationFollower keeps the set of revoked tokens from latch's
// server-sent event stream: a replay of every revocation that still
// matters, then live ones. It fails closed: fresh() is false while the
// stream has been down longer than the staleness bound.
class RevocationFollower {
  #url;
  #auth;
  #staleness;
  #jti = new Map(); // jti -> exp (s)
  #sid = new Map(); // session or family handle -> exp (s)
  #sub = new Map(); // user -> {notBefore, exp} (s): tokens issued before notBefore are revoked
  #lastEventId = "";
  #live = false; // connected and replayed
  #lastLine = 0; // ms
  #lastOK = 0; // ms: the last moment the stream was known healthy
  #abort = null;
  #stopped = false;
  #ev = { event: "", data: "", id: null };

  constructor(url, clientId, secret, staleness) {
    this.#url = url;
    this.#auth = "Basic " + Buffer.from(`${clientId}:${secret}`).toString("base64");
    this.#staleness = staleness;
  }

  start() {
    this.#loop();
    this.pruner = setInterval(() => this.#prune(), 60_000);
    this.pruner.unref();
  }

  stop() {
    this.#stopped = true;
    clearInterval(this.pruner);
    if (this.#abort) this.#abort.abort();
  }

  // fresh reports whether revocations are known well enough to trust a token.
  fresh() {
    const now = Date.now();
    if (this.#live && now - this.#lastLine < IDLE_MS) {
      this.#lastOK = now;
      return true;
    }
    return this.#lastOK !== 0 && now - this.#lastOK < this.#staleness;
  }

  // revoked applies latch's three kinds of entry to verified claims.
  revoked(claims) {
    if (this.#jti.has(claims.jti)) return true;
    if (claims.sid && this.#sid.has(claims.sid)) return true;
    const s = this.#sub.get(claims.sub);
    return s !== undefined && claims.iat < s.notBefore;
  }

  async #loop() {
    let backoff = 100;
    while (!this.#stopped) {
      try {
        await this.#follow();
      } catch (err) {
        if (!this.#stopped) log("revocation stream down", { error: err.message });
      }
      if (this.#live) backoff = 100; // it worked for a while: reconnect quickly
      this.#live = false;
      if (this.#stopped) return;
      await sleep(backoff / 2 + Math.random() * (backoff / 2)); // jittered
      backoff = Math.min(backoff * 2, 2000);
    }
  }

  async #follow() {
    const ac = new AbortController();
    this.#abort = ac;
    const headers = { Authorization: this.#auth, Accept: "text/event-stream" };
    if (this.#lastEventId) headers["Last-Event-ID"] = this.#lastEventId; // resume, nothing missed
    const res = await fetch(this.#url, { headers, signal: ac.signal });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    this.#lastLine = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - this.#lastLine > IDLE_MS) ac.abort(); // silent too long: reconnect
    }, 1000);
    try {
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk, { stream: true });
        for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
          const line = buf.slice(0, i).replace(/\r$/, "");
          buf = buf.slice(i + 1);
          this.#lastLine = Date.now();
          this.#onLine(line);
        }
      }
      throw new Error("stream ended");
    } finally {
      clearInterval(watchdog);
    }
  }

  // #onLine parses the server-sent events format, one line at a time.
  #onLine(line) {
    if (line === "") {
      const ev = this.#ev;
      this.#ev = { event: "", data: "", id: null };
      if (ev.id !== null) this.#lastEventId = ev.id;
      if (ev.event === "revoke" && ev.data) this.#apply(JSON.parse(ev.data));
      return;
    }
    if (line.startsWith(":")) {
      // latch marks the end of the replay; only then is the set complete.
      if (line === ": replay done" && !this.#live) {
        this.#live = true;
        this.#lastOK = Date.now();
        log("revocation stream following", { cursor: this.#lastEventId || "0" });
      }
      return;
    }
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") this.#ev.event = value;
    else if (field === "data") this.#ev.data += (this.#ev.data ? "\n" : "") + value;
    else if (field === "id") this.#ev.id = value;
  }

  #apply(r) {
    if (r.jti) this.#jti.set(r.jti, Math.max(r.exp, this.#jti.get(r.jti) || 0));
    else if (r.sid) this.#sid.set(r.sid, Math.max(r.exp, this.#sid.get(r.sid) || 0));
    else if (r.sub) {
      const s = this.#sub.get(r.sub) || { notBefore: 0, exp: 0 };
      this.#sub.set(r.sub, { notBefore: Math.max(s.notBefore, r.not_before), exp: Math.max(s.exp, r.exp) });
    }
  }

  // #prune forgets entries whose last token has expired.
  #prune() {
    const now = Date.now() / 1000;
    for (const [k, exp] of this.#jti) if (exp < now) this.#jti.delete(k);
    for (const [k, exp] of this.#sid) if (exp < now) this.#sid.delete(k);
    for (const [k, s] of this.#sub) if (s.exp < now) this.#sub.delete(k);
  }
}

// ---- verification ---------------------------------------------------------

// makeVerifier returns verify(token) → claims, throwing on a bad token.
function makeVerifier(cfg, jwksUri) {
  // Keys come only from latch's JWKS (never from the token's own jwk, jku,
  // x5u or x5c headers, which jose ignores here); an unknown kid refetches
  // the set at most once per 10 s, as latch's verify package does.
  const jwks = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 10_000, cacheMaxAge: 300_000 });
  return async (token) => {
    if (token.length > MAX_TOKEN_BYTES) throw new errors.JWTInvalid("token too long");
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: [cfg.alg], // an allow-list of one: no "none", no HS256 with a public key
      issuer: cfg.issuer, // exact
      audience: cfg.audience, // aud may be a string or an array
      typ: "at+jwt", // RFC 9068; "application/at+jwt" is accepted too
      requiredClaims: ["exp", "iat", "sub", "jti"],
      clockTolerance: LEEWAY_S,
    });
    return payload;
  };
}

// ---- HTTP -----------------------------------------------------------------

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers });
  res.end(JSON.stringify(body) + "\n");
}

function routes(verify, follower) {
  return async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (req.method === "GET" && path === "/healthz") return send(res, 200, { status: "ok" });
    if (req.method === "GET" && path === "/readyz") {
      // Not ready while revocations are unknown, so a load balancer sends traffic elsewhere.
      if (follower && !follower.fresh()) return send(res, 503, { status: "revocations unknown" });
      return send(res, 200, { status: "ok" });
    }
    if (req.method === "GET" && path === "/api/hello") {
      const m = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization || "");
      if (!m) return send(res, 401, { error: "unauthenticated" }, { "WWW-Authenticate": 'Bearer realm="api"' });
      // Fail closed: a token cannot be trusted while revocations are unknown.
      if (follower && !follower.fresh()) {
        return send(res, 503, { error: "revocations unknown" }, { "Retry-After": "1" });
      }
      let claims;
      try {
        claims = await verify(m[1]);
      } catch (err) {
        log("token refused", { reason: err.code || err.name });
        return send(res, 401, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
      }
      if (follower && follower.revoked(claims)) {
        log("token refused", { reason: "revoked" });
        return send(res, 401, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
      }
      return send(res, 200, { message: "hello", subject: claims.sub, role: claims.role });
    }
    return send(res, 404, { error: "not_found" });
  };
}

// ---- main -----------------------------------------------------------------

function log(msg, attrs = {}) {
  const kv = Object.entries(attrs).map(([k, v]) => ` ${k}=${JSON.stringify(String(v))}`).join("");
  process.stderr.write(`time=${new Date().toISOString()} msg=${JSON.stringify(msg)}${kv}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const cfg = config(process.env);
  // Until discovery is done every request but /healthz gets 503.
  let handler = (req, res) =>
    req.url === "/healthz" ? send(res, 200, { status: "ok" }) : send(res, 503, { error: "starting" }, { "Retry-After": "1" });
  const server = http.createServer((req, res) => handler(req, res));
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.port, cfg.host, resolve);
  });
  const { address, port } = server.address();
  // The first line names the address, even when port 0 was asked for.
  process.stderr.write(`listening addr=${address}:${port} issuer=${cfg.issuer}\n`);

  const meta = await discover(cfg.issuer, Date.now() + 30_000);
  let follower = null;
  if (cfg.clientId) {
    const streamUrl = meta.revocation_stream_endpoint || cfg.issuer.replace(/\/$/, "") + "/v1/revocations";
    follower = new RevocationFollower(streamUrl, cfg.clientId, cfg.secret, cfg.staleness);
    follower.start();
  } else {
    log("LATCH_NO_REVOCATION=1: revoked tokens stay valid here until they expire");
  }
  handler = routes(makeVerifier(cfg, meta.jwks_uri), follower);

  const stop = () => {
    log("shutting down");
    if (follower) follower.stop();
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  process.stderr.write(`node-resource-server: ${err.message}\n`);
  process.exit(1);
});
