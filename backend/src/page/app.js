// The sign-in page: email, then code, then who is signed in. Tokens stay in this page's
// memory only (never localStorage); the refresh token is an HttpOnly cookie scripts cannot read.
"use strict";

const $ = (id) => document.getElementById(id);
let email = "";
let session = "";
let expiresAt = 0;
let idToken = "";

const messages = {
  invalid_email: "That does not look like an email address.",
  try_later: "Too many attempts for this address. Try again later.",
  send_budget_used_up: "This address has been sent all the codes it may get for now.",
  too_many_requests: "Too many requests from this network. Wait a moment.",
  wrong_code: "That code is not right.",
  expired: "The code has expired. Ask for a new one.",
  attempts_used_up: "No attempts left for this code. Ask for a new one.",
  locked: "This sign-in was stopped after too many wrong codes. Try again later.",
  invalid_session: "This sign-in is no longer valid. Start again.",
  unavailable: "Sign-in is unavailable right now. Try again in a moment.",
};

function say(text) {
  $("status").textContent = text;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ error: "unavailable" }));
  return { ok: response.ok, data };
}

function show(step) {
  for (const id of ["email-step", "code-step", "signed-in"]) {
    $(id).hidden = id !== step;
  }
}

function describeCode(attemptsLeft) {
  const minutes = Math.max(0, Math.round((expiresAt * 1000 - Date.now()) / 60000));
  const attempts = attemptsLeft === 1 ? "1 attempt" : `${attemptsLeft} attempts`;
  $("code-help").textContent = `${attempts} left. The code expires in about ${minutes} minute${minutes === 1 ? "" : "s"}.`;
}

$("email-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  email = $("email").value.trim();
  say("");
  const { ok, data } = await post("/auth/start", { email });
  if (!ok) {
    const wait = data.retry_after ? ` Try again in ${Math.ceil(data.retry_after / 60)} min.` : "";
    say((messages[data.error] || messages.unavailable) + wait);
    return;
  }
  session = data.session;
  expiresAt = data.expires_at;
  $("sent-to").textContent = `We sent a ${data.code_length}-digit code to ${data.destination}.`;
  $("code").maxLength = data.code_length;
  describeCode(data.attempts_left);
  show("code-step");
  $("code").focus();
});

$("code-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("code").value.trim();
  const { ok, data } = await post("/auth/verify", { email, session, code });
  if (ok) {
    idToken = data.id_token;
    await showClaims();
    return;
  }
  if (data.error === "wrong_code") {
    session = data.session;
    say(`${messages.wrong_code} ${data.attempts_left === 1 ? "1 attempt" : data.attempts_left + " attempts"} left.`);
    describeCode(data.attempts_left);
    $("code").value = "";
    $("code").focus();
    return;
  }
  say(messages[data.error] || messages.unavailable);
  show("email-step");
  $("email").focus();
});

async function showClaims() {
  const response = await fetch("/me", { headers: { Authorization: `Bearer ${idToken}` } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    say(messages.unavailable);
    return;
  }
  say("");
  $("signed-in-as").textContent = `Signed in as ${data.claims.email}`;
  $("claims").textContent = JSON.stringify(data.claims, null, 2);
  show("signed-in");
  $("sign-out").focus();
}

$("restart").addEventListener("click", () => {
  say("");
  show("email-step");
  $("email").focus();
});

// A reload keeps the person signed in: the cookie gets fresh tokens, and no code is sent.
async function restore() {
  const { ok, data } = await post("/auth/refresh", {});
  if (ok) {
    idToken = data.id_token;
    await showClaims();
  }
}

restore();

$("sign-out").addEventListener("click", async () => {
  await post("/auth/sign-out", {});
  idToken = "";
  session = "";
  say("Signed out.");
  show("email-step");
  $("email").focus();
});
