// Rampart web chat. Served by the gateway under a strict CSP: no inline code, connections only
// back to this origin. The API key lives only in this page's memory (never in storage, never in
// the URL bar); every text from the server is shown with textContent, never parsed as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { socket: null, key: "", current: null };

  // Any CSP violation is shown on the page (and read by the browser test).
  let violations = 0;
  document.addEventListener("securitypolicyviolation", (e) => {
    violations += 1;
    const p = $("csp");
    p.textContent = "Blocked by the page's security policy: " + violations + " (" + e.violatedDirective + ")";
    p.className = "";
    document.body.dataset.cspViolations = String(violations);
  });
  document.body.dataset.cspViolations = "0";

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  function entry(kind, text) {
    const li = document.createElement("li");
    li.className = kind;
    li.textContent = text;
    $("log").appendChild(li);
    return li;
  }

  function connected(on) {
    $("message").disabled = !on;
    $("send").disabled = !on;
    $("disconnect").disabled = !on;
    $("connect").disabled = on;
    $("key").disabled = on;
    $("agent").disabled = on;
  }

  async function whoami(key) {
    const r = await fetch("/api/me", {
      headers: { Authorization: "Bearer " + key },
      cache: "no-store",
      credentials: "omit",
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const msg = body && body.error ? body.error.message : "HTTP " + r.status;
      throw new Error(msg);
    }
    return body;
  }

  function onFrame(ev) {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch (_) {
      return;
    }
    if (m.type === "delta") {
      if (!state.current) state.current = entry("agent", "");
      state.current.textContent += m.text;
    } else if (m.type === "reply") {
      if (!state.current) state.current = entry("agent", "");
      state.current.textContent = typeof m.reply === "string" ? m.reply : "";
      state.current.dataset.done = "true";
      state.current = null;
      $("send").disabled = false;
    } else if (m.type === "error") {
      const e = m.error || {};
      entry("error", (e.code || "error") + ": " + (e.message || ""));
      state.current = null;
      $("send").disabled = false;
    }
  }

  function open(agent, key) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = proto + "//" + location.host + "/api/agents/" + encodeURIComponent(agent) +
      "/ws?token=" + encodeURIComponent(key);
    const ws = new WebSocket(url);
    state.socket = ws;
    ws.addEventListener("open", () => {
      connected(true);
    });
    ws.addEventListener("message", onFrame);
    ws.addEventListener("close", (e) => {
      if (state.socket === ws) state.socket = null;
      connected(false);
      const why = e.reason ? ": " + e.reason : "";
      status("Disconnected (" + e.code + why + ").", e.code !== 1000);
    });
    return ws;
  }

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("key").value.trim();
    const agent = $("agent").value.trim();
    if (!key || !agent) return;
    status("Checking the key…", false);
    try {
      const me = await whoami(key);
      state.key = key;
      $("key").value = "";
      open(agent, key);
      status("Connected as " + me.name + " (" + me.role + ") to " + agent + ".", false);
    } catch (err) {
      status("Not connected: " + err.message, true);
    }
  });

  $("disconnect").addEventListener("click", () => {
    if (state.socket) state.socket.close(1000, "bye");
    state.key = "";
  });

  $("compose").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message").value;
    if (!text.trim() || !state.socket || state.socket.readyState !== WebSocket.OPEN) return;
    entry("you", text);
    state.current = null;
    state.socket.send(JSON.stringify({ type: "message", text: text }));
    $("message").value = "";
    $("send").disabled = true;
  });
})();
