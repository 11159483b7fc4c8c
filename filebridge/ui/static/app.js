// The filebridge page: sessions, plots, views, data views, the request log, and panels.
// Every value from a worker is put into the page as text (never innerHTML).
"use strict";

(() => {
  const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";

  function url(path, params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
    }
    const text = query.toString();
    return base + path + (text ? "?" + text : "");
  }

  async function api(path, params, options) {
    const response = await fetch(url(path, params), options || {});
    const type = response.headers.get("Content-Type") || "";
    const body = type.startsWith("application/json") ? await response.json() : await response.text();
    if (!response.ok) throw new Error((body && body.error) || response.statusText);
    return body;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const when = (seconds) => seconds ? new Date(seconds * 1000).toLocaleString() : "";
  const shortTime = (seconds) => seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";

  const state = {
    version: -1, sessions: [], selected: null, tab: "plot", detail: null, detailKey: "",
    openView: null, plotNumber: null, panels: [], panelDefs: {}, loadedScripts: new Set(),
  };

  // -- panels registered by other features -------------------------------------------------
  window.filebridge = {
    registerPanel(def) { state.panelDefs[def.name] = def; renderTabs(); },
    openView: (id) => openView(id),
    api, el,
  };

  function panelContext(name) {
    return {
      sessionId: state.selected,
      api: (path, params, options) =>
        api(`api/panels/${name}/${path}`, { session: state.selected, ...(params || {}) }, options),
      el,
    };
  }

  function loadPanelScripts() {
    for (const p of state.panels) {
      if (state.loadedScripts.has(p.name)) continue;
      state.loadedScripts.add(p.name);
      document.head.append(el("script", { src: `panels/${encodeURIComponent(p.name)}.js` }));
    }
  }

  // -- sessions ------------------------------------------------------------------------------
  function renderSessions() {
    const list = document.getElementById("session-list");
    list.replaceChildren(...state.sessions.map((s) => el("li", {
      class: `session ${s.status}` + (s.id === state.selected ? " selected" : ""),
      "data-testid": "session", "data-session": s.id, "data-status": s.status,
      onclick: () => select(s.id),
    },
      el("span", { class: "dot", title: s.status }),
      el("strong", {}, s.id),
      el("span", { class: "status-text" }, s.status),
      el("div", { class: "meta" },
        `${s.language || "?"} · pid ${s.pid ?? "?"} · ${s.machine || "?"}`),
      el("div", { class: "meta" }, `started ${when(s.started)}`))));
    document.getElementById("no-sessions").hidden = state.sessions.length > 0;
  }

  function select(id) {
    if (state.selected !== id) {
      state.selected = id;
      state.openView = null;
      state.plotNumber = null;
      state.detailKey = "";
    }
    renderSessions();
    refreshSession();
  }

  async function refreshSession() {
    const id = state.selected;
    document.getElementById("pick").hidden = !!id;
    document.getElementById("session").hidden = !id;
    if (!id) return;
    let detail;
    try {
      detail = await api(`api/sessions/${encodeURIComponent(id)}`);
    } catch (error) {
      document.getElementById("session-head").replaceChildren(el("p", { class: "error" }, error.message));
      return;
    }
    if (id !== state.selected) return;
    const key = JSON.stringify([detail.session, detail.views, detail.plots]);
    if (key === state.detailKey) return;
    state.detailKey = key;
    state.detail = detail;
    const s = detail.session;
    document.getElementById("session-head").replaceChildren(
      el("h2", {}, `Session ${s.id}`),
      el("p", { class: "meta" }, `${s.status} · ${s.language || "?"} · pid ${s.pid ?? "?"} · `
        + `${s.machine || "?"} · started ${when(s.started)}`));
    renderTabs();
    renderTab(false);
  }

  // -- tabs ----------------------------------------------------------------------------------
  function tabs() {
    const fixed = [["plot", "Plot"], ["views", "Views"], ["log", "Requests"]];
    const extra = state.panels.filter((p) => state.panelDefs[p.name])
      .map((p) => [`panel:${p.name}`, p.title]);
    return fixed.concat(extra);
  }

  function renderTabs() {
    const bar = document.getElementById("tabs");
    bar.replaceChildren(...tabs().map(([id, title]) => el("button", {
      role: "tab", class: id === state.tab ? "active" : "", "data-testid": `tab-${id}`,
      "aria-selected": id === state.tab ? "true" : "false",
      onclick: () => { state.tab = id; renderTabs(); renderTab(true); },
    }, title)));
  }

  function renderTab(userAction) {
    const body = document.getElementById("tab-body");
    if (!state.detail) return;
    if (state.tab === "plot") renderPlot(body);
    else if (state.tab === "views") renderViews(body, userAction);
    else if (state.tab === "log") renderLog(body);
    else if (state.tab.startsWith("panel:")) {
      const name = state.tab.slice(6);
      const def = state.panelDefs[name];
      if (!def) return;
      if (userAction || !body.dataset.panel || body.dataset.panel !== name) {
        body.replaceChildren();
        body.dataset.panel = name;
        def.render(body, panelContext(name));
      } else if (def.update) {
        def.update(body, panelContext(name));
      }
      return;
    }
    delete body.dataset.panel;
  }

  function renderPlot(body) {
    const plots = state.detail.plots;
    if (!plots.length) {
      body.replaceChildren(el("p", { class: "muted", "data-testid": "no-plot" }, "No plot yet."));
      return;
    }
    const latest = plots[plots.length - 1];
    const shown = plots.find((p) => p.number === state.plotNumber) || latest;
    body.replaceChildren(
      el("div", { class: "plot-bar" },
        el("span", { "data-testid": "plot-info" },
          `plot ${shown.number} of ${plots.length} · ${shown.width}×${shown.height} · ${shortTime(shown.time)}`),
        el("button", { disabled: shown === plots[0], onclick: () => stepPlot(-1, shown) }, "◀ older"),
        el("button", { disabled: shown === latest, onclick: () => stepPlot(1, shown) }, "newer ▶"),
        el("button", { disabled: shown === latest, onclick: () => { state.plotNumber = null; renderTab(true); } }, "latest")),
      el("img", {
        class: "plot", "data-testid": "plot-image", "data-plot": shown.number,
        alt: `plot ${shown.number}`,
        src: `plot/${encodeURIComponent(state.selected)}/${shown.number}.png`,
      }));
  }

  function stepPlot(delta, shown) {
    const plots = state.detail.plots;
    const index = plots.indexOf(shown) + delta;
    if (index >= 0 && index < plots.length) state.plotNumber = plots[index].number;
    renderTab(true);
  }

  // -- views ---------------------------------------------------------------------------------
  function renderViews(body, userAction) {
    const views = state.detail.views;
    let list = body.querySelector(".view-list");
    let holder = body.querySelector(".view-holder");
    if (!list || !holder) {
      list = el("ul", { class: "view-list", "data-testid": "view-list" });
      holder = el("div", { class: "view-holder" });
      body.replaceChildren(list, holder);
    }
    list.replaceChildren(...(views.length ? views.slice().reverse().map((v) => el("li", {
      class: "view" + (state.openView === v.id ? " selected" : ""),
      "data-testid": "view", "data-kind": v.kind, "data-view": v.id,
    },
      el("button", { class: "open", onclick: () => openView(v.id) },
        el("span", { class: "kind" }, v.kind), " ", v.title),
      el("span", { class: "meta" }, shortTime(v.created)),
      el("button", { class: "close", title: "close", "data-testid": "close-view",
        onclick: () => closeView(v.id) }, "×"))) : [el("li", { class: "muted" }, "No views yet.")]));
    const open = views.find((v) => v.id === state.openView);
    if (!open) { holder.replaceChildren(); holder.dataset.view = ""; return; }
    if (holder.dataset.view === open.id && !userAction) return;
    holder.dataset.view = open.id;
    holder.replaceChildren(showView(open));
  }

  function openView(id) {
    state.openView = id;
    state.tab = "views";
    renderTabs();
    const holder = document.querySelector(".view-holder");
    if (holder) holder.dataset.view = "";
    renderTab(true);
  }

  async function closeView(id) {
    await api(`api/sessions/${encodeURIComponent(state.selected)}/views/${encodeURIComponent(id)}/close`,
      {}, { method: "POST" });
    if (state.openView === id) state.openView = null;
    state.detailKey = "";
    refreshSession();
  }

  function showView(view) {
    const title = el("h3", { "data-testid": "view-title" }, view.title);
    if (view.kind === "webview" || view.kind === "help") {
      // view.frame is the view's own capability address on the views origin (another port):
      // the frame's scripts never share an origin with this page or learn its token.
      if (!view.frame) return el("p", { class: "error" }, "this view has no page to show");
      return el("div", { class: "view-body" }, title, el("iframe", {
        class: "webview", "data-testid": "webview-frame", title: view.title,
        sandbox: "allow-scripts allow-popups allow-forms allow-modals",
        referrerpolicy: "no-referrer", src: view.frame,
      }));
    }
    if (view.kind === "browser" || view.kind === "httpgd") {
      return el("div", { class: "view-body" }, title,
        el("p", {}, el("a", { href: view.url, target: "_blank", rel: "noreferrer noopener",
          "data-testid": "browser-link" }, view.url)),
        el("iframe", { class: "webview", src: view.url, title: view.title,
          sandbox: "allow-scripts allow-same-origin allow-popups allow-forms" }));
    }
    if (view.kind === "table") return tableView(view);
    if (view.kind === "tree" || view.kind === "text") return contentView(view);
    return el("p", {}, `Unknown view kind ${view.kind}`);
  }

  function contentView(view) {
    const holder = el("div", { class: "view-body" }, el("h3", { "data-testid": "view-title" }, view.title));
    const path = `api/sessions/${encodeURIComponent(state.selected)}/views/${encodeURIComponent(view.id)}/content`;
    api(path).then((content) => {
      if (view.kind === "tree") holder.append(el("div", { class: "tree", "data-testid": "tree" }, treeNode("", content, 0)));
      else holder.append(el("pre", { class: "source", "data-testid": "text" }, content));
    }).catch((error) => holder.append(el("p", { class: "error" }, error.message)));
    return holder;
  }

  function treeNode(name, value, depth) {
    const label = name === "" ? "" : `${name}: `;
    if (value !== null && typeof value === "object") {
      const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
      const kind = Array.isArray(value) ? `list [${entries.length}]` : `dict {${entries.length}}`;
      return el("details", { open: depth < 1 },
        el("summary", {}, label, el("span", { class: "kind" }, kind)),
        el("div", { class: "children" }, entries.map(([k, v]) => treeNode(k, v, depth + 1))));
    }
    return el("div", { class: "leaf" }, label,
      value === null ? el("span", { class: "na" }, "None") : JSON.stringify(value));
  }

  // -- data views: the virtual grid (grid.js) over the host's table queries -----------------
  function tableView(view) {
    const root = el("div", { class: "view-body" }, el("h3", { "data-testid": "view-title" }, view.title));
    const path = `api/sessions/${encodeURIComponent(state.selected)}/tables/${encodeURIComponent(view.id)}`;
    window.filebridgeGrid.mount(root, { title: view.title,
      ask: (command, args) => api(`${path}/${command}`, { q: JSON.stringify(args) }) });
    return root;
  }

  // -- request log ---------------------------------------------------------------------------
  async function renderLog(body) {
    let data;
    try {
      data = await api("api/log", { session: state.selected });
    } catch (error) {
      body.replaceChildren(el("p", { class: "error" }, error.message));
      return;
    }
    if (state.tab !== "log") return;
    body.replaceChildren(el("table", { class: "grid log", "data-testid": "request-log" },
      el("thead", {}, el("tr", {}, ["time", "command", "answer", "result", "args"].map((h) => el("th", {}, h)))),
      el("tbody", {}, data.requests.map((r) => el("tr", { "data-testid": "log-row", "data-command": r.command },
        el("td", {}, shortTime(r.sent)), el("td", {}, r.command),
        el("td", {}, r.answer ? "waits" : "—"),
        el("td", { class: r.ok === false ? "error" : "" }, r.ok === false ? (r.error || "error") : "ok"),
        el("td", { class: "args" }, r.args))))));
  }

  // -- prompts from workers (rstudioapi's showPrompt and askForPassword) ----------------------
  // The oldest pending prompt is shown in a modal dialog; the first page to answer wins, and a
  // prompt answered elsewhere, given up or timed out is taken down at the next state update.
  let shownPrompt = null;

  function promptDialog() {
    let dialog = document.getElementById("prompt");
    if (dialog) return dialog;
    dialog = el("dialog", { id: "prompt", "data-testid": "prompt-dialog" });
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); answerPrompt(null); });
    document.body.append(dialog);
    return dialog;
  }

  function renderPrompts(prompts) {
    const dialog = promptDialog();
    const current = prompts.length ? prompts[0] : null;
    if (shownPrompt && (!current || current.id !== shownPrompt.id)) {
      shownPrompt = null;
      if (dialog.open) dialog.close();
    }
    if (!current || shownPrompt) return;
    shownPrompt = current;
    const input = el("input", {
      type: current.masked ? "password" : "text", "data-testid": "prompt-input",
      autocomplete: current.masked ? "current-password" : "off",
    });
    input.value = current.masked ? "" : current.default;
    const form = el("form", { method: "dialog", onsubmit: (event) => {
      event.preventDefault();
      answerPrompt(input.value);
    } },
      el("h3", { "data-testid": "prompt-title" }, current.title || "R asks"),
      el("p", { class: "meta" }, `session ${current.session}`),
      el("p", { class: "prompt-message", "data-testid": "prompt-message" }, current.message),
      input,
      el("div", { class: "prompt-buttons" },
        el("button", { type: "button", "data-testid": "prompt-cancel", onclick: () => answerPrompt(null) }, "Cancel"),
        el("button", { type: "submit", "data-testid": "prompt-ok" }, "OK")));
    dialog.replaceChildren(form);
    if (!dialog.open) dialog.showModal();
    input.focus();
  }

  async function answerPrompt(value) {
    const prompt = shownPrompt;
    if (!prompt) return;
    shownPrompt = null;
    const dialog = promptDialog();
    if (dialog.open) dialog.close();
    try {
      await api(`api/prompts/${encodeURIComponent(prompt.id)}`, {},
        { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ value }) });
    } catch (error) {
      document.getElementById("status").textContent = `prompt not answered (${error.message})`;
    }
  }

  // -- live updates --------------------------------------------------------------------------
  async function poll() {
    const status = document.getElementById("status");
    for (;;) {
      try {
        const next = await api("api/state", { since: state.version, wait: 20 });
        status.textContent = "live";
        status.className = "ok";
        state.version = next.version;
        state.sessions = next.sessions;
        state.panels = next.panels;
        renderPrompts(next.prompts || []);
        loadPanelScripts();
        if (!state.selected && state.sessions.length) state.selected = state.sessions[state.sessions.length - 1].id;
        renderSessions();
        await refreshSession();
        if (state.tab === "log" || state.tab.startsWith("panel:")) renderTab(false);
      } catch (error) {
        status.textContent = `disconnected (${error.message})`;
        status.className = "error";
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  poll();
})();
