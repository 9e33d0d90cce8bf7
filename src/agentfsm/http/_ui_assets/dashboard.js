// The agentfsm dashboard: live parts, buttons that call the API, a typed confirmation.
// No framework and no build step: the server renders every part; this script re-reads the
// live part when the event stream says an agent changed, and sends the buttons' actions.
(() => {
  "use strict";
  const body = document.body;
  const live = document.getElementById("live");
  const state = document.getElementById("live-state");
  if (!live) return;

  // Times in status tick on the server's clock: its "now" when the page was made, plus the
  // time the page has been open.
  const serverNow = Date.parse(body.dataset.now || "") || Date.now();
  const opened = Date.now();
  const now = () => serverNow + (Date.now() - opened);

  function elapsed(since) {
    const seconds = Math.max(0, Math.floor((now() - since) / 1000));
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (seconds >= size) return `${Math.floor(seconds / size)} ${unit}`;
    }
    return `${seconds} s`;
  }

  function tick() {
    for (const t of document.querySelectorAll("time.since")) {
      const since = Date.parse(t.getAttribute("datetime"));
      if (!Number.isNaN(since)) t.textContent = elapsed(since);
    }
  }

  function show(tone, text, code) {
    const box = document.getElementById("message");
    if (!box) return;
    const p = document.createElement("p");
    p.className = `message ${tone}`;
    p.setAttribute("role", "alert");
    if (code) p.dataset.code = code;
    p.textContent = text;
    box.replaceChildren(p);
  }

  // The confirmation a destructive action needs: its button stays disabled until the typed
  // text equals the expected one exactly.
  function confirmed(form) {
    const input = form.querySelector("input[data-confirm]");
    return !input || input.value === input.dataset.confirm;
  }

  function wire() {
    for (const form of live.querySelectorAll("form.act")) {
      const button = form.querySelector("button[type=submit]");
      const input = form.querySelector("input[data-confirm]");
      if (input && button) {
        const check = () => { button.disabled = !confirmed(form); };
        input.addEventListener("input", check);
        check();
      }
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        send(form, button);
      });
    }
    const filter = document.getElementById("status-filter");
    if (filter) {
      filter.addEventListener("change", () => filter.form.requestSubmit());
      const apply = filter.form.querySelector("button.apply");
      if (apply) apply.hidden = true;
    }
  }

  function payloadOf(form) {
    const payload = {};
    for (const input of form.querySelectorAll("input[name]")) {
      if (input.type === "checkbox") {
        if (input.checked) payload[input.name] = true;
      } else if (input.value !== "") {
        payload[input.name] = input.dataset.kind === "int" ? Number(input.value) : input.value;
      }
    }
    return payload;
  }

  async function send(form, button) {
    const label = button ? button.textContent : form.dataset.event;
    if (!confirmed(form)) {
      const input = form.querySelector("input[data-confirm]");
      show("bad", `${label} needs ${input.dataset.confirm} typed exactly to confirm.`);
      return;
    }
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (window.crypto && crypto.randomUUID) headers["Idempotency-Key"] = crypto.randomUUID();
    if (button) button.disabled = true;
    let answer;
    try {
      answer = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers,
        body: JSON.stringify(payloadOf(form)),
      });
    } catch (error) {
      show("bad", `${label}: the server could not be reached.`);
      if (button) button.disabled = false;
      return;
    }
    const doc = await answer.json().catch(() => ({}));
    if (answer.ok && doc.snapshot) {
      show("ok", `${label}: accepted; the agent is now ${doc.snapshot.status}.`);
    } else {
      show("bad", doc.detail || `${label} failed (HTTP ${answer.status}).`, doc.code);
    }
    refresh();
  }

  // Re-reading the live part: one request at a time, typed text and the last message kept.
  let busy = false;
  let again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    const url = new URL(window.location.href);
    url.searchParams.set("part", "live");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((answer) => (answer.ok ? answer.text() : Promise.reject(answer.status)))
      .then((html) => {
        const typed = {};
        for (const input of live.querySelectorAll("form.act input[name]")) {
          typed[`${input.form.dataset.event}/${input.name}`] = input.value;
        }
        const message = document.getElementById("message");
        const kept = message ? message.innerHTML : "";
        live.innerHTML = html;
        for (const input of live.querySelectorAll("form.act input[name]")) {
          const value = typed[`${input.form.dataset.event}/${input.name}`];
          if (value !== undefined && input.type !== "checkbox") input.value = value;
        }
        const fresh = document.getElementById("message");
        if (fresh && !fresh.innerHTML && kept) fresh.innerHTML = kept;
        wire();
        tick();
      })
      .catch(() => { if (state) state.textContent = "could not refresh"; })
      .finally(() => {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  let pending = null;
  function soon() {
    if (pending === null) pending = setTimeout(() => { pending = null; refresh(); }, 100);
  }

  const stream = body.dataset.stream;
  if (stream && window.EventSource) {
    const source = new EventSource(stream);
    source.addEventListener("open", () => {
      if (state) state.textContent = "live";
      body.dataset.live = "yes";
      soon(); // whatever changed between the page and the stream
    });
    source.addEventListener("change", soon);
    source.addEventListener("resync", soon);
    source.addEventListener("error", () => {
      if (state) state.textContent = "reconnecting…";
      body.dataset.live = "no";
    });
  }

  wire();
  tick();
  setInterval(tick, 1000);
})();
