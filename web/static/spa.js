// The SPA demo (/demo/spa): the UI around latch-client.js. Everything that
// matters for security is in that module; this file only draws.
import { LatchClient, LatchError } from "/static/latch-client.js";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const latch = new LatchClient();
const loginPanel = document.getElementById("spa-login");
const appPanel = document.getElementById("spa-app");
const status = document.getElementById("spa-status");
const errorBox = $("error");

const words = {
  invalid_credentials: "That email and password do not match an account. Check both and try again.",
  invalid_email: "Enter an email address such as name@example.com.",
  rate_limited: "Too many attempts in a short time. Wait a minute, then try again.",
  account_disabled: "This account has been disabled. Ask the administrator to enable it again.",
  unavailable: "The service is having trouble right now. Please try again in a moment.",
  invalid_request: "Fill in your email and password.",
};

function say(err) {
  if (!err) {
    errorBox.hidden = true;
    errorBox.textContent = "";
    return;
  }
  let text = "Something went wrong. Please try again.";
  if (err instanceof LatchError) text = words[err.code] || text;
  else if (err instanceof TypeError) text = "Could not reach the server. Check your connection and try again.";
  else if (typeof err === "string") text = err;
  errorBox.textContent = text;
  errorBox.hidden = false;
}

function draw() {
  const inApp = latch.signedIn;
  loginPanel.hidden = inApp;
  appPanel.hidden = !inApp;
  $("refresh-count").textContent = String(latch.refreshCount);
  if (inApp) {
    document.getElementById("spa-user").textContent = latch.user ? latch.user.email : "–";
    $("claims").textContent = JSON.stringify(latch.decoded, null, 2);
  } else {
    $("claims").textContent = "";
    $("api-result").textContent = "Not called yet.";
  }
  tick();
}

function tick() {
  $("expires-in").textContent = latch.signedIn ? String(Math.ceil(latch.expiresIn())) : "–";
}

latch.subscribe(draw);
setInterval(tick, 250);

document.getElementById("spa-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = $("submit");
  button.disabled = true;
  say(null);
  try {
    await latch.login($("email").value, $("password").value);
    $("password").value = "";
    status.textContent = "Signed in.";
  } catch (err) {
    say(err);
    $("password").focus();
  } finally {
    button.disabled = false;
  }
});

$("call-api").addEventListener("click", async () => {
  say(null);
  const out = $("api-result");
  out.textContent = "Calling…";
  try {
    const res = await latch.fetch("/v1/whoami");
    const body = await res.json();
    if (res.status === 401) {
      out.textContent = "Not called yet.";
      status.textContent = "";
      say("Your session has ended. Log in again.");
      return;
    }
    out.textContent = `HTTP ${res.status}\n` + JSON.stringify(body, null, 2);
  } catch (err) {
    out.textContent = "The call failed.";
    say(err);
  }
});

$("logout").addEventListener("click", async () => {
  say(null);
  try {
    await latch.logout();
    status.textContent = "You are logged out.";
  } catch (err) {
    say(err);
  }
});

(async () => {
  try {
    const ok = await latch.restore();
    status.textContent = ok ? "Signed in again silently from the refresh cookie." : "";
  } catch (err) {
    status.textContent = "";
    say(err);
  }
  draw();
  loginPanel.hidden = latch.signedIn;
})();
