/**
 * passkeys.js — the pages' WebAuthn ceremonies (API.md §8): add a passkey on
 * /account/security, sign in with one on /login, and use one as the second
 * step of a login. Each button is hidden until this script has checked that
 * the browser can do WebAuthn; without it the pages work as before (a code
 * instead of a passkey).
 *
 * latch sends the options as JSON with base64url for the binary fields, and
 * takes the browser's credential back the same way (the form of WebAuthn
 * Level 3's toJSON): the conversions below are done by hand, so that older
 * browsers without PublicKeyCredential.parseCreationOptionsFromJSON work too.
 */

const b64u = {
  encode(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  decode(s) {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  },
};

/** creationOptions turns latch's JSON options into navigator.credentials.create's. */
function creationOptions(json) {
  const pk = { ...json.publicKey };
  pk.challenge = b64u.decode(pk.challenge);
  pk.user = { ...pk.user, id: b64u.decode(pk.user.id) };
  pk.excludeCredentials = (pk.excludeCredentials || []).map((c) => ({ ...c, id: b64u.decode(c.id) }));
  return { publicKey: pk };
}

/** requestOptions turns latch's JSON options into navigator.credentials.get's. */
function requestOptions(json) {
  const pk = { ...json.publicKey };
  pk.challenge = b64u.decode(pk.challenge);
  pk.allowCredentials = (pk.allowCredentials || []).map((c) => ({ ...c, id: b64u.decode(c.id) }));
  return { publicKey: pk, mediation: json.mediation || "optional" };
}

/** credentialJSON is the browser's credential as latch takes it. */
function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: b64u.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64u.encode(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  }
  if (r.authenticatorData) {
    response.authenticatorData = b64u.encode(r.authenticatorData);
    response.signature = b64u.encode(r.signature);
    if (r.userHandle) response.userHandle = b64u.encode(r.userHandle);
  }
  return {
    id: cred.id,
    rawId: b64u.encode(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    response,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

/** post sends JSON to latch; a refusal throws an Error with the problem's words. */
async function post(path, body, csrf) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}), credentials: "same-origin" });
  const doc = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(doc.title || `HTTP ${res.status}`);
    err.status = res.status;
    err.code = doc.code || "";
    throw err;
  }
  return doc;
}

/** say shows a message in the page's error or notice element. */
function say(text, kind) {
  let el = document.querySelector(`[data-testid="${kind}"]`);
  if (!el) {
    el = document.createElement("p");
    el.className = `alert ${kind}`;
    el.dataset.testid = kind;
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    const h1 = document.querySelector("main h1");
    h1.parentNode.insertBefore(el, h1.nextElementSibling);
  }
  el.textContent = text;
  el.hidden = false;
}

/** refusal says, in words, why a ceremony did not finish. */
function refusal(err) {
  if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
    return "The passkey request was cancelled or timed out. Try again, or use another way to sign in.";
  }
  if (err && err.name === "InvalidStateError") {
    return "This passkey is already registered to your account.";
  }
  switch (err && err.code) {
    case "reauth_required":
      return "For your security, adding or removing a passkey needs a recent sign-in. Sign in again, then retry.";
    case "invalid_credentials":
      return "That passkey did not sign you in. Use another passkey, or sign in with your password.";
    case "invalid_token":
      return "This sign-in took too long. Start again.";
    case "rate_limited":
      return "Too many attempts in a short time. Wait a minute, then try again.";
  }
  return "Something went wrong with the passkey. Please try again.";
}

/** next is where a finished login goes: the page's validated next, else /account. */
function landing(button) {
  const n = button.dataset.next || "";
  return n.startsWith("/") && !n.startsWith("//") ? n : "/account";
}

async function addPasskey(button) {
  const csrf = button.dataset.csrf;
  const nameField = document.querySelector('[data-testid="passkey-name"]');
  const options = await post("/v1/webauthn/register/begin", {}, csrf);
  const cred = await navigator.credentials.create(creationOptions(options));
  const body = { credential: credentialJSON(cred) };
  if (nameField && nameField.value.trim()) body.name = nameField.value.trim();
  await post("/v1/webauthn/register/finish", body, csrf);
  location.assign("/account/security?notice=passkey-added");
}

async function passkeyLogin(button) {
  const options = await post("/v1/login/passkey/begin", {});
  const cred = await navigator.credentials.get(requestOptions(options));
  await post("/v1/login/passkey/finish", { credential: credentialJSON(cred), mode: "session" });
  location.assign(landing(button));
}

async function passkeySecondStep(button) {
  const token = button.dataset.mfaToken;
  const options = await post("/v1/login/mfa/webauthn/begin", { mfa_token: token });
  const cred = await navigator.credentials.get(requestOptions(options));
  await post("/v1/login/mfa/webauthn/finish", { mfa_token: token, credential: credentialJSON(cred) });
  location.assign(landing(button));
}

const ceremonies = { "passkey-add": addPasskey, "passkey-login": passkeyLogin, "use-passkey": passkeySecondStep };

const supported = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
for (const [testid, run] of Object.entries(ceremonies)) {
  for (const button of document.querySelectorAll(`[data-testid="${testid}"]`)) {
    if (!supported) {
      const note = document.querySelector('[data-testid="passkey-unsupported"]');
      if (note) note.hidden = false;
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await run(button);
      } catch (err) {
        say(refusal(err), "error");
        button.disabled = false;
      }
    });
  }
}
