// artproxy's page: makes pictures through POST /jobs, follows each job to its end, and keeps
// this browser's own pictures (with their delete tokens) in localStorage until they expire.
// It talks to nothing but the server it came from: every URL here is relative.
"use strict";

const IMAGES_KEY = "artproxy.images";
const API_KEY_KEY = "artproxy.apiKey";
// How long one poll of a job may be held by the server: short, so the place in our queue and
// in the upstream's (which move without the status changing) are fresh.
const WAIT_SECONDS = { queued: 3, running: 3 };

const $ = (id) => document.getElementById(id);
let choices = { max_seed: 4294967295, formats: ["png"], providers: [] };
let shown = null; // the picture in "Your picture"
let lastRequest = null; // what "Again" repeats
let alertTimer = null;

class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// ---- talking to artproxy ----

async function api(method, path, body, headers = {}) {
  const sent = { Accept: "application/json", ...headers };
  const key = localStorage.getItem(API_KEY_KEY);
  if (key) sent.Authorization = `Bearer ${key}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let answer;
  try {
    answer = await fetch(path, {
      method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body),
      // The session cookie of a signed-in person goes along (artproxy's own origin only).
      credentials: "same-origin", cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, "artproxy cannot be reached. Check your connection and try again.");
  }
  if (answer.status === 204) return null;
  let data = null;
  try {
    data = await answer.json();
  } catch (error) {
    data = null;
  }
  if (!answer.ok) {
    const message = (data && data.error) || `artproxy answered ${answer.status}.`;
    throw new ApiError(answer.status, message, Number(answer.headers.get("Retry-After")) || 0);
  }
  return data;
}

// ---- the form ----

async function loadChoices() {
  const [styles, options] = await Promise.all([api("GET", "/styles"), api("GET", "/options")]);
  choices = options;
  for (const style of styles) {
    const option = new Option(style.label, style.name);
    option.title = style.description;
    $("style").append(option);
  }
  for (const format of options.formats) $("format").append(new Option(format.toUpperCase(), format));
  const aspects = $("aspects");
  for (const aspect of options.aspects) {
    // The radio fills its label, so a click anywhere on the shape or the text chooses it.
    const input = Object.assign(document.createElement("input"), {
      type: "radio", name: "aspect", value: aspect.name, checked: aspect.name === "1:1",
    });
    const shape = document.createElement("span");
    shape.className = "shape";
    shape.setAttribute("aria-hidden", "true");
    const longest = Math.max(aspect.width, aspect.height);
    shape.style.width = `${Math.round((28 * aspect.width) / longest)}px`;
    shape.style.height = `${Math.round((28 * aspect.height) / longest)}px`;
    const label = document.createElement("label");
    label.append(input, shape, document.createTextNode(aspect.name));
    aspects.append(label);
  }
  if (options.providers.length > 1) {
    for (const provider of options.providers) $("provider").append(new Option(provider, provider));
    $("provider-field").hidden = false;
  }
  showAccount(options.signin || []); // account.js
}

function readForm() {
  const request = { prompt: $("prompt").value.trim() };
  const aspect = document.querySelector("input[name=aspect]:checked");
  if (aspect) request.aspect = aspect.value;
  if ($("style").value) request.style = $("style").value;
  request.format = $("format").value || "png";
  request.transparent = $("transparent").checked;
  const seed = $("seed").value.trim();
  if (seed) request.seed = /^\d+$/.test(seed) ? Number(seed) : seed; // the server explains a bad one
  if ($("provider").value) request.provider = $("provider").value;
  return request;
}

function randomSeed() {
  return Math.floor(Math.random() * (choices.max_seed + 1));
}

function rollSeed() {
  const seed = randomSeed();
  $("seed").value = String(seed);
  return seed;
}

// The lasting address of a picture: GET /prompt/<prompt> with the options it was drawn with,
// its seed included, so the URL draws the same picture wherever it is loaded.
function promptUrl(request) {
  const query = new URLSearchParams();
  for (const name of ["aspect", "style", "format", "transparent", "seed", "provider"]) {
    const value = request[name];
    if (value === undefined || value === false || (name === "format" && value === "png")) continue;
    query.set(name, String(value));
  }
  const tail = query.toString();
  return `/prompt/${encodeURIComponent(request.prompt)}${tail ? `?${tail}` : ""}`;
}

function keepFormatsPossible() {
  // A JPEG has no transparency: the server would refuse the pair, so the page does not offer it.
  const jpeg = [...$("format").options].find((option) => option.value === "jpeg");
  if (!jpeg) return;
  jpeg.disabled = $("transparent").checked;
  if (jpeg.disabled && $("format").value === "jpeg") $("format").value = "png";
}

// ---- making a picture ----

async function make(request) {
  if (!request.prompt) {
    showAlert("Write a prompt first: describe the picture you want.");
    $("prompt").focus();
    return;
  }
  hideAlert();
  lastRequest = request;
  // A seed always, chosen here when the form leaves it to chance: the picture's prompt URL
  // carries it, so the URL shows this very picture again.
  if (request.seed === undefined) request = { ...request, seed: randomSeed() };
  $("generate").disabled = true;
  const started = Date.now();
  let job = { status: "queued", position: null };
  const showProgress = () => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    $("progress-text").textContent = job.status === "running"
      ? `${upstreamProgress(job.progress)}… ${seconds} s`
      : `Waiting in the queue${job.position ? `, place ${job.position}` : ""}… ${seconds} s`;
  };
  $("progress").hidden = false;
  showProgress();
  const ticker = setInterval(showProgress, 1000);
  try {
    job = await api("POST", "/jobs", request);
    showProgress();
    // ?after says what this page last saw: the server answers as soon as the job differs
    // from it, so a start between two polls is never missed.
    while (job.status === "queued" || job.status === "running") {
      job = await api("GET", `${job.status_url}?wait=${WAIT_SECONDS[job.status]}&after=${job.status}`);
      if (job.status === "queued" || job.status === "running") showProgress();
    }
    if (job.status === "done") {
      const picture = remember(job.result, request.prompt,
        choices.prompt_urls ? promptUrl(request) : null);
      show(picture);
    } else {
      showAlert(job.error ? job.error.message : "The picture could not be made.");
    }
  } catch (error) {
    showError(error);
  } finally {
    clearInterval(ticker);
    $("progress").hidden = true;
    $("generate").disabled = false;
    refreshAccount(); // account.js: the credit spent, the picture in the history
  }
}

// "12th in the Horde's queue, about 40 s": what an upstream with a queue of its own last said.
function upstreamProgress(progress) {
  const place = progress && progress.upstream_queue_position;
  if (!place) return "Drawing";
  const queue = progress.provider === "horde" ? "the Horde's queue" : `${progress.provider}'s queue`;
  const wait = progress.upstream_wait_seconds;
  return `${ordinal(place)} in ${queue}${wait ? `, about ${wait} s` : ""}`;
}

function ordinal(number) {
  const teens = number % 100 >= 11 && number % 100 <= 13;
  return `${number}${teens ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[number % 10] || "th")}`;
}

function show(picture) {
  shown = picture;
  const image = $("result-image");
  image.src = picture.url;
  image.alt = picture.prompt;
  image.width = picture.width;
  image.height = picture.height;
  $("download").href = picture.url;
  $("download").download = picture.url.split("/").pop();
  $("copy-prompt-url").hidden = !picture.promptUrl;
  $("copied").textContent = "";
  $("result").hidden = false;
  tick();
}

function absolute(url) {
  return new URL(url, window.location.href).href;
}

// With prompt URLs the embed code lasts: the stored picture's own URL ends with its life.
function embedCode(picture) {
  const alt = picture.prompt.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  const src = absolute(picture.promptUrl || picture.url).replace(/"/g, "%22");
  return `<img src="${src}" alt="${alt}" width="${picture.width}" height="${picture.height}">`;
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    $("copied").textContent = `${what} copied.`;
  } catch (error) {
    // No clipboard (a page not on https or localhost): show it for copying by hand.
    $("copied").textContent = text;
  }
}

async function remove(picture) {
  try {
    await api("DELETE", picture.url, undefined, { "X-Delete-Token": picture.token });
  } catch (error) {
    if (error.status !== 404) { // a 404 is gone already, which is what was asked
      showError(error);
      return;
    }
  }
  forget(picture.url);
}

// ---- this browser's pictures ----

function remembered() {
  try {
    const pictures = JSON.parse(localStorage.getItem(IMAGES_KEY) || "[]");
    return Array.isArray(pictures) ? pictures.filter((picture) => picture.deadline > Date.now()) : [];
  } catch (error) {
    return [];
  }
}

function remember(result, prompt, promptUrl) {
  // The deadline counts from now with the server's seconds left, so a wrong clock here
  // does not shorten or lengthen it.
  const picture = {
    url: result.url, token: result.delete_token, prompt, promptUrl, width: result.width,
    height: result.height, deadline: Date.now() + result.expires_in * 1000,
  };
  localStorage.setItem(IMAGES_KEY, JSON.stringify([picture, ...remembered()]));
  drawGallery();
  return picture;
}

function forget(url) {
  localStorage.setItem(IMAGES_KEY, JSON.stringify(remembered().filter((picture) => picture.url !== url)));
  if (shown && shown.url === url) {
    shown = null;
    $("result").hidden = true;
  }
  drawGallery();
}

function drawGallery() {
  const pictures = remembered();
  const list = $("gallery-list");
  list.replaceChildren(...pictures.map((picture) => {
    const item = document.createElement("li");
    item.dataset.url = picture.url;
    const image = Object.assign(document.createElement("img"), {
      src: picture.url, alt: picture.prompt, loading: "lazy", width: picture.width, height: picture.height,
    });
    const countdown = Object.assign(document.createElement("time"), { className: "countdown" });
    countdown.dataset.deadline = String(picture.deadline);
    const showButton = Object.assign(document.createElement("button"), { type: "button", textContent: "Show" });
    showButton.setAttribute("aria-label", `Show: ${picture.prompt}`);
    showButton.addEventListener("click", () => show(picture));
    const deleteButton = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
    deleteButton.setAttribute("aria-label", `Delete: ${picture.prompt}`);
    deleteButton.addEventListener("click", () => remove(picture));
    const controls = Object.assign(document.createElement("div"), { className: "controls" });
    controls.append(countdown, showButton, deleteButton);
    item.append(image, controls);
    return item;
  }));
  $("gallery-empty").hidden = pictures.length > 0;
  tick();
}

// ---- the clock: countdowns, expiry ----

function mmss(milliseconds) {
  const seconds = Math.max(0, Math.ceil(milliseconds / 1000));
  return `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}

function tick() {
  const now = Date.now();
  let expired = false;
  for (const countdown of document.querySelectorAll("#gallery-list time")) {
    const left = Number(countdown.dataset.deadline) - now;
    countdown.textContent = mmss(left);
    expired ||= left <= 0;
  }
  if (shown) {
    $("result-countdown").textContent = mmss(shown.deadline - now);
    if (shown.deadline <= now) {
      shown = null;
      $("result").hidden = true;
    }
  }
  if (expired) drawGallery();
}

// ---- errors ----

function showAlert(message, retryAfterSeconds = 0) {
  clearInterval(alertTimer);
  const alertBox = $("alert");
  alertBox.hidden = false;
  if (!retryAfterSeconds) {
    alertBox.textContent = message;
    return;
  }
  const until = Date.now() + retryAfterSeconds * 1000;
  const update = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    alertBox.textContent = left > 0 ? `${message} Try again in ${left} s.` : `${message} You can try again now.`;
    if (left <= 0) clearInterval(alertTimer);
  };
  update();
  alertTimer = setInterval(update, 1000);
}

function hideAlert() {
  clearInterval(alertTimer);
  $("alert").hidden = true;
  $("alert").textContent = "";
}

function showError(error) {
  if (error.status === 401) {
    $("key-field").hidden = false;
    showAlert(`${error.message} Enter your API key below, then Generate again.`);
    $("api-key").focus();
    return;
  }
  const waits = error.status === 429 || error.status === 503 ? error.retryAfter : 0;
  showAlert(error.message || "Something went wrong.", waits);
}

// ---- wiring ----

function start() {
  const key = localStorage.getItem(API_KEY_KEY);
  if (key) {
    $("api-key").value = key;
    $("key-field").hidden = false;
  }
  $("api-key").addEventListener("input", () => {
    const typed = $("api-key").value.trim();
    if (typed) localStorage.setItem(API_KEY_KEY, typed);
    else localStorage.removeItem(API_KEY_KEY);
  });
  $("make").addEventListener("submit", (event) => {
    event.preventDefault();
    make(readForm());
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!$("generate").disabled) $("make").requestSubmit();
    }
  });
  $("roll").addEventListener("click", rollSeed);
  $("transparent").addEventListener("change", keepFormatsPossible);
  $("copy-embed").addEventListener("click", () => shown && copy(embedCode(shown), "Embed code"));
  $("copy-prompt-url").addEventListener("click",
    () => shown && shown.promptUrl && copy(absolute(shown.promptUrl), "Image URL"));
  $("copy-link").addEventListener("click", () => shown && copy(absolute(shown.url), "Link"));
  $("delete").addEventListener("click", () => shown && remove(shown));
  $("again").addEventListener("click", () => {
    if (lastRequest) make({ ...lastRequest, seed: rollSeed() });
  });
  window.addEventListener("storage", (event) => {
    if (event.key === IMAGES_KEY) drawGallery(); // another tab made or deleted one
  });
  drawGallery();
  setInterval(tick, 1000);
  loadChoices().then(keepFormatsPossible).catch(showError);
}

// Not at once: the deferred scripts after this one (account.js) have not run yet, and the
// answers start() waits for can arrive before they do. DOMContentLoaded comes after them all.
document.addEventListener("DOMContentLoaded", start);
