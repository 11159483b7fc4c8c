// The variables panel: a lazily expanding tree with paging, sort, filter and a data view.
// Values from the worker are always put into the page as text (ctx.el never parses HTML).
"use strict";

(() => {
  const PAGE = 100;

  function formatSize(size) {
    if (typeof size !== "number") return "";
    const units = ["B", "KB", "MB", "GB"];
    let value = size;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function pathKey(path) { return JSON.stringify(path); }

  // One panel instance per container: its state survives updates of the page.
  function create(container, ctx) {
    const state = {
      ctx, session: ctx.sessionId, sort: "", filter: "", version: null,
      expanded: new Set(), polling: false, alive: true,
    };
    const el = ctx.el;
    const status = el("span", { class: "variables-status", "data-testid": "variables-status" });
    const filter = el("input", {
      type: "search", placeholder: "filter names", "data-testid": "variables-filter",
      oninput: () => { state.filter = filter.value; reload(); },
    });
    const sort = el("select", {
      "data-testid": "variables-sort",
      onchange: () => { state.sort = sort.value; reload(); },
    }, el("option", { value: "" }, "definition order"), el("option", { value: "name" }, "name"),
      el("option", { value: "size" }, "size"), el("option", { value: "type" }, "type"));
    const refresh = el("button", { "data-testid": "variables-refresh", onclick: () => reload() },
      "Refresh");
    const table = el("table", { class: "variables-tree", "data-testid": "variables-tree" });
    const viewer = el("div", { class: "variables-view", "data-testid": "variables-view" });
    container.replaceChildren(
      el("div", { class: "variables-toolbar" }, filter, " sort by ", sort, " ", refresh, " ", status),
      table, viewer);

    function header() {
      return el("tr", {}, ...["Name", "Type", "Shape", "Size", "Value", ""].map(
        (title) => el("th", {}, title)));
    }

    function row(entry, path, depth) {
      const key = pathKey(path);
      const open = state.expanded.has(key);
      const toggle = entry.has_children
        ? el("button", {
          class: "variables-toggle", "data-testid": "variables-toggle",
          "aria-expanded": open ? "true" : "false",
          onclick: () => toggleRow(tr, entry, path, depth),
        }, open ? "\u25be" : "\u25b8")
        : el("span", { class: "variables-leaf" }, "");
      const shape = (entry.shape || []).join("\u00d7");
      const viewButton = entry.has_viewer
        ? el("button", { "data-testid": "variables-view-button", onclick: () => openView(entry, path) },
          "view")
        : "";
      const retryButton = entry.not_described === "over_limit"
        ? el("button", {
          "data-testid": "variables-retry",
          title: "run this value's code again (it went over the time limit)",
          onclick: async () => {
            try {
              await ctx.api("retry", { path: JSON.stringify(path) });
            } catch (error) {
              status.textContent = `could not retry ${entry.display_name}: ${error.message}`;
            }
            reload();
          },
        }, "try again")
        : "";
      const tr = el("tr", {
        "data-testid": "variables-row", "data-path": key, "data-name": entry.display_name,
        "data-depth": depth,
      },
        el("td", { style: `padding-left: ${depth * 1.2}em` }, toggle, " ", entry.display_name),
        el("td", {}, entry.display_type), el("td", { "data-testid": "variables-shape" }, shape),
        el("td", {}, formatSize(entry.size)),
        el("td", { class: "variables-value", title: entry.display_value },
          entry.display_value + (entry.is_truncated ? " \u2026" : "")),
        el("td", {}, viewButton, retryButton));
      return tr;
    }

    function childRows(tr) {
      const prefix = tr.dataset.path.slice(0, -1);
      const rows = [];
      let next = tr.nextElementSibling;
      while (next && next.dataset.path && next.dataset.path.startsWith(prefix + ",")) {
        rows.push(next);
        next = next.nextElementSibling;
      }
      return rows;
    }

    async function loadChildren(after, path, depth, start) {
      const page = await ctx.api("children", { path: JSON.stringify(path), start, count: PAGE });
      let anchor = after;
      for (const child of page.children) {
        const childPath = path.concat([child.access_key]);
        const tr = row(child, childPath, depth + 1);
        anchor.after(tr);
        anchor = tr;
        if (state.expanded.has(pathKey(childPath))) {
          anchor = await loadChildren(tr, childPath, depth + 1, 0);
        }
      }
      const shown = start + page.children.length;
      if (shown < page.length) {
        const more = el("tr", { "data-testid": "variables-more", "data-path": pathKey(path).slice(0, -1) + ",more]" },
          el("td", { colspan: 6, style: `padding-left: ${(depth + 1) * 1.2}em` },
            el("button", {
              onclick: async () => {
                const last = more.previousElementSibling;
                more.remove();
                await loadChildren(last, path, depth, shown);
              },
            }, `show ${Math.min(PAGE, page.length - shown)} more (${shown} of ${page.length})`)));
        anchor.after(more);
        anchor = more;
      }
      return anchor;
    }

    async function toggleRow(tr, entry, path, depth) {
      const key = pathKey(path);
      const button = tr.querySelector("[data-testid=variables-toggle]");
      if (state.expanded.has(key)) {
        state.expanded.delete(key);
        for (const child of childRows(tr)) child.remove();
        button.textContent = "\u25b8";
        button.setAttribute("aria-expanded", "false");
        return;
      }
      state.expanded.add(key);
      button.textContent = "\u25be";
      button.setAttribute("aria-expanded", "true");
      try {
        await loadChildren(tr, path, depth, 0);
      } catch (error) {
        status.textContent = `could not expand ${entry.display_name}: ${error.message}`;
      }
    }

    async function openView(entry, path) {
      // the value opens as a data view: the same grid as dataview()
      viewer.replaceChildren(el("p", {}, `opening ${entry.display_name}\u2026`));
      try {
        const view = await ctx.api("view", { path: JSON.stringify(path), open: "1" });
        viewer.replaceChildren();
        if (view.view && window.filebridge.openView) window.filebridge.openView(view.view);
        else viewer.replaceChildren(el("p", { "data-testid": "variables-view-title" },
          `${view.title}: shown in the Views tab`));
      } catch (error) {
        viewer.replaceChildren(el("p", { class: "error" }, `no view: ${error.message}`));
      }
    }

    async function reload() {
      if (!state.session) return;
      try {
        const top = await ctx.api("list", { sort: state.sort, filter: state.filter });
        state.version = top.version;
        table.replaceChildren(header());
        let anchor = table.lastElementChild;
        for (const entry of top.children) {
          const path = [entry.access_key];
          const tr = row(entry, path, 0);
          anchor.after(tr);
          anchor = tr;
          if (state.expanded.has(pathKey(path))) anchor = await loadChildren(tr, path, 0, 0);
        }
        status.textContent = `${top.length} variables \u00b7 version ${top.version}`;
      } catch (error) {
        table.replaceChildren(header());
        status.textContent = error.message;
      }
      poll();
    }

    async function poll() {
      if (state.polling) return;
      state.polling = true;
      while (state.alive && container.isConnected && state.session) {
        try {
          const change = await ctx.api("changes", { since: state.version ?? 0, wait: 20 });
          if (!state.alive || !container.isConnected) break;
          if (change.version !== state.version) {
            state.polling = false;
            await reload();
            return;
          }
        } catch (error) {
          await new Promise((resolve) => setTimeout(resolve, 2000));
        }
      }
      state.polling = false;
    }

    return {
      state,
      update(newCtx) {
        if (newCtx.sessionId !== state.session) {
          state.alive = false;
          instances.set(container, create(container, newCtx));
        }
      },
      start() { reload(); },
    };
  }

  const instances = new WeakMap();

  filebridge.registerPanel({
    name: "variables",
    title: "Variables",
    render(container, ctx) {
      const instance = create(container, ctx);
      instances.set(container, instance);
      instance.start();
    },
    update(container, ctx) {
      const instance = instances.get(container);
      if (!instance) { this.render(container, ctx); return; }
      const before = instance.state.session;
      instance.update(ctx);
      if (ctx.sessionId !== before) instances.get(container).start();
    },
  });
})();
