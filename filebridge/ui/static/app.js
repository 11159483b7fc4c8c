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

  const { el } = window.filebridgeDom;

  const when = (seconds) => seconds ? new Date(seconds * 1000).toLocaleString() : "";
  const shortTime = (seconds) => seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";

  const state = {
    version: -1, sessions: [], selected: null, tab: "plot", detail: null, detailKey: "",
    openView: null, plotNumber: null, panels: [], panelDefs: {}, loadedScripts: new Set(),
    plotZoom: "fit", host: null, lostSince: null, lostWhy: "", detailAsked: 0,
  };

  // -- keyboard ------------------------------------------------------------------------------
  // Re-rendering replaces elements; the one that had the focus gets it back by its key.
  function keepFocus(render) {
    const active = document.activeElement;
    const key = active && active.dataset ? active.dataset.focusKey : undefined;
    render();
    if (key === undefined || (document.activeElement && document.activeElement !== document.body
        && document.activeElement.isConnected)) return;
    const again = document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }

  // Arrow keys move along a list of ``items`` (elements); returns the one to go to, if any.
  function arrowTarget(event, items, vertical) {
    const index = items.indexOf(event.currentTarget);
    const back = vertical ? "ArrowUp" : "ArrowLeft";
    const forth = vertical ? "ArrowDown" : "ArrowRight";
    let next = -1;
    if (event.key === back) next = Math.max(0, index - 1);
    else if (event.key === forth) next = Math.min(items.length - 1, index + 1);
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    if (next < 0) return null;
    event.preventDefault();
    return items[next];
  }

  // Column headers of any table in a view can be reached with Tab and sorted with Enter or
  // Space (shift adds a sort key, as shift-click does), whatever code built the table.
  function focusableHeaders(root) {
    const headers = "thead th[data-field], [role=columnheader][data-field]";
    const mark = () => root.querySelectorAll(headers).forEach((th) => {
      if (!th.hasAttribute("tabindex")) th.tabIndex = 0;
    });
    new MutationObserver(mark).observe(root, { childList: true, subtree: true });
    root.addEventListener("keydown", (event) => {
      const th = event.target;
      if (!(th instanceof HTMLElement) || !th.matches(headers)) return;
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      th.dispatchEvent(new MouseEvent("click", { bubbles: true, shiftKey: event.shiftKey }));
    });
  }

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
  // What a session's state reads as: while the host is gone, the last known one, marked so.
  function shownStatus(s) {
    return hostGone() ? `${s.status}?` : s.status;
  }

  function renderSessions() {
    const list = document.getElementById("session-list");
    // One Tab stop for the list (the selected session, else the first); arrows move in it.
    const stop = state.sessions.some((s) => s.id === state.selected) ? state.selected
      : (state.sessions[0] || {}).id;
    keepFocus(() => list.replaceChildren(...state.sessions.map((s) => el("li", {
      class: `session ${s.status}` + (s.id === state.selected ? " selected" : ""),
      "data-testid": "session", "data-session": s.id, "data-status": s.status,
      "data-focus-key": `session:${s.id}`, role: "option", tabindex: s.id === stop ? "0" : "-1",
      "aria-selected": s.id === state.selected ? "true" : "false",
      title: hostGone() ? `last known state: ${s.status} (the host is not answering)` : null,
      onclick: () => select(s.id),
      onkeydown: (event) => {
        const items = [...list.querySelectorAll("li.session")];
        const next = arrowTarget(event, items, true);
        if (next) { next.focus(); select(next.dataset.session); return; }
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(s.id); }
      },
    },
      el("span", { class: "dot", title: s.status }),
      el("strong", {}, s.id),
      el("span", { class: "status-text" }, shownStatus(s)),
      el("div", { class: "meta" },
        `${s.language || "?"} · pid ${s.pid ?? "?"} · ${s.machine || "?"}`),
      el("div", { class: "meta" }, `started ${when(s.started)}`)))));
    document.getElementById("no-sessions").hidden = state.sessions.length > 0;
    document.getElementById("pick").textContent = state.sessions.length
      ? "Pick a session on the left." : "No session yet: the commands on the left start one.";
  }

  // The empty page's commands come from the server, filled in with this host's folder.
  function renderStartCommands(commands) {
    const list = document.getElementById("start-commands");
    if (!commands || list.dataset.filled === JSON.stringify(commands)) return;
    list.dataset.filled = JSON.stringify(commands);
    list.replaceChildren(...commands.map((c, i) => {
      const code = el("pre", { "data-testid": "start-command" }, c.command);
      const copy = el("button", { type: "button", "data-testid": `copy-command-${i}`,
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(c.command);
            copy.textContent = "copied";
          } catch (error) {
            getSelection().selectAllChildren(code);
            copy.textContent = "selected: press Ctrl+C";
          }
          setTimeout(() => { copy.textContent = "copy"; }, 2000);
        } }, "copy");
      return el("li", {}, el("div", {}, c.does), code, copy);
    }));
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
    // A click and the state poll may both ask; on a busy machine their answers can arrive out
    // of order, and the older one must not replace the newer.
    const asked = ++state.detailAsked;
    let detail;
    try {
      detail = await api(`api/sessions/${encodeURIComponent(id)}`);
    } catch (error) {
      // no answer at all is the host-gone banner's news; the session stays as last seen
      if (error instanceof TypeError || state.lostSince !== null) return;
      document.getElementById("session-head").replaceChildren(el("p", { class: "error" }, error.message));
      return;
    }
    if (id !== state.selected || asked !== state.detailAsked) return;
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
    const choose = (id) => { state.tab = id; renderTabs(); renderTab(true); };
    keepFocus(() => bar.replaceChildren(...tabs().map(([id, title]) => el("button", {
      role: "tab", class: id === state.tab ? "active" : "", "data-testid": `tab-${id}`,
      "aria-selected": id === state.tab ? "true" : "false", "data-focus-key": `tab:${id}`,
      onclick: () => choose(id),
      onkeydown: (event) => {
        const next = arrowTarget(event, [...bar.querySelectorAll("button")], false);
        if (next) { next.focus(); next.click(); }
      },
    }, title))));
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

  // -- plots: fitted or zoomed, saved as PNG (and SVG where the worker sent one), a history strip
  const ZOOMS = [0.25, 0.33, 0.5, 0.67, 0.75, 0.9, 1, 1.25, 1.5, 2, 3, 4, 6, 8];

  function plotUrl(plot, kind) {
    return `plot/${encodeURIComponent(state.selected)}/${plot.number}.${kind}`;
  }

  function renderPlot(body) {
    const plots = state.detail.plots;
    if (!plots.length) {
      body.replaceChildren(el("p", { class: "muted", "data-testid": "no-plot" }, "No plot yet."));
      return;
    }
    const latest = plots[plots.length - 1];
    const shown = plots.find((p) => p.number === state.plotNumber) || latest;
    const zoom = state.plotZoom;
    const image = el("img", {
      class: "plot", "data-testid": "plot-image", "data-plot": shown.number,
      alt: `plot ${shown.number}`, src: plotUrl(shown, "png"),
      width: zoom === "fit" ? null : Math.round(shown.width * zoom),
      height: zoom === "fit" ? null : Math.round(shown.height * zoom),
    });
    const stage = el("div", {
      class: "plot-stage" + (zoom === "fit" ? " fit" : ""), "data-testid": "plot-stage",
      tabindex: "0", "data-focus-key": "plot-stage",
      "aria-label": "plot: + and - zoom, 0 fits, 1 is actual size, arrows go to older and newer",
      onkeydown: (event) => plotKey(event, shown),
      onwheel: (event) => {
        if (!event.ctrlKey) return;
        event.preventDefault();
        zoomStep(event.deltaY < 0 ? 1 : -1, shown);
      },
    }, image);
    const svg = shown.svg
      ? el("a", { class: "button", href: plotUrl(shown, "svg"), download: `plot-${shown.number}.svg`,
        "data-testid": "plot-save-svg", "data-focus-key": "plot-svg" }, "Save SVG")
      : el("button", { disabled: true, "data-testid": "plot-save-svg",
        title: "this plot was sent as a PNG only (an SVG is kept for matplotlib figures)" },
      "Save SVG");
    keepFocus(() => body.replaceChildren(
      el("div", { class: "plot-bar" },
        el("span", { "data-testid": "plot-info" },
          `plot ${shown.number} of ${plots.length} · ${shown.width}×${shown.height} · ${shortTime(shown.time)}`),
        el("button", { disabled: shown === plots[0], "data-focus-key": "plot-older",
          onclick: () => stepPlot(-1, shown) }, "◀ older"),
        el("button", { disabled: shown === latest, "data-focus-key": "plot-newer",
          onclick: () => stepPlot(1, shown) }, "newer ▶"),
        el("button", { disabled: shown === latest, "data-focus-key": "plot-latest",
          onclick: () => { state.plotNumber = null; renderTab(true); } }, "latest"),
        el("span", { class: "spacer" }),
        el("button", { "data-testid": "plot-fit", "aria-pressed": zoom === "fit" ? "true" : "false",
          "data-focus-key": "plot-fit", onclick: () => setZoom("fit") }, "Fit"),
        el("button", { "data-testid": "plot-zoom-out", "data-focus-key": "plot-zoom-out",
          title: "zoom out (-)", onclick: () => zoomStep(-1, shown) }, "−"),
        el("span", { "data-testid": "plot-zoom", "data-zoom": String(zoom) },
          zoom === "fit" ? "fit" : `${Math.round(zoom * 100)}%`),
        el("button", { "data-testid": "plot-zoom-in", "data-focus-key": "plot-zoom-in",
          title: "zoom in (+)", onclick: () => zoomStep(1, shown) }, "+"),
        el("button", { "data-testid": "plot-actual", "data-focus-key": "plot-actual",
          onclick: () => setZoom(1) }, "100%"),
        el("button", { "data-testid": "plot-enlarge", "data-focus-key": "plot-enlarge",
          title: "show over the whole window (Escape closes)", onclick: () => enlargePlot(shown) },
        "Enlarge"),
        el("a", { class: "button", href: plotUrl(shown, "png"), download: `plot-${shown.number}.png`,
          "data-testid": "plot-save-png", "data-focus-key": "plot-png" }, "Save PNG"),
        svg),
      stage,
      plotStrip(plots, shown)));
  }

  // Every kept plot as a thumbnail, oldest first; arrows move along it.
  function plotStrip(plots, shown) {
    const strip = el("div", { class: "plot-strip", role: "list", "aria-label": "plot history",
      "data-testid": "plot-strip" });
    strip.append(...plots.map((p) => el("button", {
      class: p === shown ? "current" : "", role: "listitem", "data-testid": "plot-thumb",
      "data-plot": p.number, "data-focus-key": `plot-thumb:${p.number}`,
      "aria-current": p === shown ? "true" : null, title: `plot ${p.number} · ${shortTime(p.time)}`,
      onclick: () => { state.plotNumber = p.number; renderTab(true); },
      onkeydown: (event) => {
        const next = arrowTarget(event, [...strip.querySelectorAll("button")], false);
        if (next) { next.focus(); next.click(); }
      },
    }, el("img", { src: plotUrl(p, "png"), alt: `plot ${p.number}`, loading: "lazy" }))));
    requestAnimationFrame(() => {
      const current = strip.querySelector(".current");
      // only the strip scrolls, never the page around it
      if (current) strip.scrollLeft = current.offsetLeft - (strip.clientWidth - current.offsetWidth) / 2;
    });
    return strip;
  }

  function setZoom(zoom) {
    state.plotZoom = zoom;
    renderTab(true);
  }

  function zoomStep(direction, shown) {
    let zoom = state.plotZoom;
    if (zoom === "fit") {
      const image = document.querySelector("[data-testid=plot-image]");
      zoom = image && shown.width ? image.clientWidth / shown.width : 1;
    }
    const next = direction > 0 ? ZOOMS.find((z) => z > zoom + 1e-6)
      : [...ZOOMS].reverse().find((z) => z < zoom - 1e-6);
    setZoom(next === undefined ? (direction > 0 ? ZOOMS[ZOOMS.length - 1] : ZOOMS[0]) : next);
  }

  function plotKey(event, shown) {
    const keys = { "+": () => zoomStep(1, shown), "=": () => zoomStep(1, shown),
      "-": () => zoomStep(-1, shown), "0": () => setZoom("fit"), "1": () => setZoom(1),
      ArrowLeft: () => stepPlot(-1, shown), ArrowRight: () => stepPlot(1, shown) };
    const action = keys[event.key];
    if (!action || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    action();
  }

  // The plot over the whole window, in a modal dialog: Escape (or a click) closes it.
  function enlargePlot(shown) {
    const dialog = el("dialog", { class: "plot-overlay", "data-testid": "plot-overlay",
      "aria-label": `plot ${shown.number}` },
    el("img", { src: plotUrl(shown, "png"), alt: `plot ${shown.number}` }),
    el("button", { class: "overlay-close", "data-testid": "plot-overlay-close",
      onclick: () => dialog.close() }, "Close (Esc)"));
    const opener = document.activeElement;
    dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
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
    keepFocus(() => list.replaceChildren(...(views.length ? views.slice().reverse().map((v) => el("li", {
      class: "view" + (state.openView === v.id ? " selected" : ""),
      "data-testid": "view", "data-kind": v.kind, "data-view": v.id,
    },
      el("button", { class: "open", "data-focus-key": `view:${v.id}`,
        onclick: () => openView(v.id),
        onkeydown: (event) => {
          const next = arrowTarget(event, [...list.querySelectorAll("button.open")], false)
            || arrowTarget(event, [...list.querySelectorAll("button.open")], true);
          if (next) next.focus();
        } },
        el("span", { class: "kind" }, v.kind), " ", v.title),
      el("span", { class: "meta" }, shortTime(v.created)),
      el("button", { class: "close", title: "close", "data-testid": "close-view",
        "aria-label": `close ${v.title}`, onclick: () => closeView(v.id) }, "×")))
      : [el("li", { class: "muted" }, "No views yet.")])));
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

  // -- live updates, and whether the host is there ------------------------------------------
  const POLL_WAIT = 20;  // seconds the server may hold a long poll

  function hostGone() {
    return state.lostSince !== null || (state.host && state.host.state === "stopped");
  }

  // The banner says plainly what is wrong: the page's server does not answer, or it answers
  // but the host behind it stopped or stalls; it goes away when all is well again.
  function renderHost() {
    const banner = document.getElementById("host-banner");
    const status = document.getElementById("status");
    let text = "";
    let kind = "";
    if (state.lostSince !== null) {
      kind = "gone";
      text = `The filebridge host is not answering (since ${state.lostSince.toLocaleTimeString()}: `
        + `${state.lostWhy}). Sessions are shown as last seen; this page reconnects by itself `
        + "when the host is back (restart it with filebridge serve --ui).";
      status.textContent = "host not answering";
      status.className = "error";
    } else if (state.host && state.host.state !== "serving") {
      kind = state.host.state === "stopped" ? "gone" : "stalled";
      text = state.host.message;
      status.textContent = state.host.state === "stopped" ? "host stopped" : "host stalled";
      status.className = state.host.state === "stopped" ? "error" : "warn";
    } else {
      status.textContent = "live";
      status.className = "ok";
    }
    banner.hidden = !text;
    banner.className = kind;
    banner.dataset.state = state.lostSince !== null ? "unreachable" : (state.host || {}).state || "";
    banner.textContent = text;
    document.body.classList.toggle("host-gone", hostGone());
  }

  async function fetchState() {
    // A server that hangs (stopped, or its machine asleep) never fails a request: time out.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), (POLL_WAIT + 10) * 1000);
    try {
      return await api("api/state", { since: state.version, wait: POLL_WAIT,
        host: state.lostSince === null && state.host ? state.host.state : "" },
        { signal: abort.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  async function poll() {
    let failures = 0;
    for (;;) {
      let next;
      try {
        next = await fetchState();
      } catch (error) {
        failures += 1;
        if (state.lostSince === null) state.lostSince = new Date();
        state.lostWhy = error.name === "AbortError" ? "no answer within 30 s"
          : error instanceof TypeError ? "the connection was refused or dropped" : error.message;
        // a restarted server counts its versions from zero again: ask it for everything
        state.version = -1;
        renderHost();
        renderSessions();
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * failures)));
        continue;
      }
      const wasLost = hostGone();
      failures = 0;
      state.lostSince = null;
      state.version = next.version;
      state.host = next.host || null;
      state.sessions = next.sessions;
      state.panels = next.panels;
      renderHost();
      renderStartCommands(next.start_commands);
      renderPrompts(next.prompts || []);
      loadPanelScripts();
      if (!state.selected && state.sessions.length) state.selected = state.sessions[state.sessions.length - 1].id;
      renderSessions();
      if (wasLost) state.detailKey = "";
      try {
        await refreshSession();
        if (state.tab === "log" || state.tab.startsWith("panel:")) renderTab(false);
      } catch (error) {
        document.getElementById("session-head").append(el("p", { class: "error" }, error.message));
      }
    }
  }

  focusableHeaders(document.getElementById("tab-body"));
  poll();
})();
