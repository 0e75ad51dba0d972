// The account part of artproxy's page: sign in with a configured provider, then the credits,
// the referral link, the API keys (made, copied once, revoked) and the history. It uses
// app.js's api() and $(); the session cookie goes along with every call on its own.
"use strict";

let signinProviders = [];
let historyNext = null; // where the next page of history starts

// Called by app.js once /options has said which providers sign people in.
function showAccount(providers) {
  signinProviders = providers;
  if (!providers.length) return; // no accounts on this server
  $("account").hidden = false;
  const referral = new URLSearchParams(location.search).get("ref");
  const buttons = $("signin-buttons");
  buttons.replaceChildren();
  for (const provider of providers) {
    const link = document.createElement("a");
    link.className = "button";
    link.href = `/auth/${encodeURIComponent(provider.name)}/login`
      + (referral ? `?ref=${encodeURIComponent(referral)}` : "");
    link.textContent = `Sign in with ${provider.label}`;
    buttons.append(link);
  }
  $("signout").addEventListener("click", signOut);
  $("copy-referral").addEventListener("click", () => copyText($("referral-link").value, "Link"));
  $("copy-key").addEventListener("click", () => copyText($("new-key-value").value, "Key"));
  $("new-key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createKey();
  });
  $("history-more").addEventListener("click", () => loadHistory(false));
  refreshAccount();
}

async function refreshAccount() {
  if (!signinProviders.length) return;
  let account;
  try {
    account = await api("GET", "/account");
  } catch (error) {
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
    if (error.status !== 401) note(error.message);
    return;
  }
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  const provider = signinProviders.find((known) => known.name === account.provider);
  $("account-who").textContent = `Signed in as ${account.name || account.email || "you"}`
    + (provider ? ` with ${provider.label}` : "");
  $("credits-available").textContent = String(account.credits.available);
  $("credits-detail").textContent = `(${account.credits.earned} earned, `
    + `${account.credits.spent} spent)`;
  $("referral-link").value = account.referral_url;
  drawKeys(account.keys);
  loadHistory(true);
}

function drawKeys(keys) {
  const list = $("key-list");
  list.replaceChildren();
  for (const key of keys) {
    const row = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = key.label || "(no label)";
    const used = document.createElement("span");
    used.className = "hint";
    used.textContent = key.last_used_at ? `used ${when(key.last_used_at)}` : "never used";
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke key ${key.label || key.id}`);
    revoke.addEventListener("click", () => revokeKey(key));
    row.append(label, used, revoke);
    list.append(row);
  }
}

async function createKey() {
  try {
    const made = await api("POST", "/account/keys", { label: $("key-label").value.trim() });
    $("new-key-value").value = made.key;
    $("new-key").hidden = false;
    $("key-label").value = "";
    await refreshAccount();
  } catch (error) {
    note(error.message);
  }
}

async function revokeKey(key) {
  try {
    await api("DELETE", `/account/keys/${encodeURIComponent(key.id)}`);
    await refreshAccount();
  } catch (error) {
    note(error.message);
  }
}

async function loadHistory(fromNewest) {
  const path = fromNewest || historyNext === null
    ? "/account/history?limit=12" : `/account/history?limit=12&before=${historyNext}`;
  let page;
  try {
    page = await api("GET", path);
  } catch (error) {
    note(error.message);
    return;
  }
  const list = $("history-list");
  if (fromNewest) list.replaceChildren();
  for (const item of page.items) {
    const row = document.createElement("li");
    if (item.url) {
      const image = document.createElement("img");
      image.src = item.url;
      image.alt = item.prompt;
      image.loading = "lazy";
      row.append(image);
    } else {
      const gone = document.createElement("div");
      gone.className = "gone";
      gone.textContent = "expired";
      row.append(gone);
    }
    const prompt = document.createElement("p");
    prompt.textContent = item.prompt;
    const made = document.createElement("p");
    made.className = "hint";
    made.textContent = `${when(item.created_at)} · ${item.provider}`;
    row.append(prompt, made);
    list.append(row);
  }
  historyNext = page.next_before;
  $("history-more").hidden = historyNext === null;
  $("history-empty").hidden = list.children.length > 0;
}

async function signOut() {
  try {
    await api("POST", "/auth/signout");
  } catch (error) {
    note(error.message);
  }
  $("new-key").hidden = true;
  await refreshAccount();
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    note(`${what} copied.`);
  } catch (error) {
    note(`Copy it by hand: ${text}`);
  }
}

function note(text) {
  $("account-note").textContent = text;
}

function when(isoTime) {
  return new Date(isoTime).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}
