// The data grid: a virtual scroller over a table of any size, asking the host for the
// rectangle in view (plus some rows around it) with the sort keys and filters in force.
// Worker values always go into the page as text (never innerHTML).
"use strict";

(() => {
  const ROW_HEIGHT = 24;
  const BLOCK = 100;            // rows per request
  const OVERFETCH = 1;          // blocks asked for on each side of the visible ones
  const MAX_BLOCKS = 240;       // blocks kept
  const CHUNK = 64;             // columns per request of a wide table (narrower ones: all at once)
  const COLUMN_MARGIN_PX = 300; // columns rendered beyond each side of the view
  const MAX_SCROLL_PX = 8e6;    // browsers cap element heights; taller tables scroll scaled
  const DEBOUNCE_MS = 40;
  const TYPE_ICONS = { integer: "123", float: "1.2", boolean: "T/F", date: "date", datetime: "time",
    category: "cat", string: "abc", other: "obj" };
  const NUMERIC = new Set(["integer", "float"]);
  const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const floatFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 });
  const smallFormat = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 6 });

  const { el } = window.filebridgeDom;

  // -- cells as text ----------------------------------------------------------------------------
  function formatCell(value, column) {
    if (value === null || value === undefined) return { text: "NA", cls: "na" };
    if (column.type === "float" || column.type === "integer") {
      if (typeof value === "string") {
        if (value === "NaN" || value === "Inf" || value === "-Inf") return { text: value, cls: "special" };
        return { text: value, cls: "" };   // an integer beyond 2^53, as its digits
      }
      if (column.role === "label") return { text: String(value), cls: "" };
      if (column.type === "integer") return { text: integerFormat.format(value), cls: "" };
      const size = Math.abs(value);
      if (size !== 0 && (size < 1e-4 || size >= 1e15)) return { text: value.toExponential(4), cls: "" };
      return { text: (size >= 1 ? floatFormat : smallFormat).format(value), cls: "" };
    }
    if (typeof value === "boolean") return { text: value ? "true" : "false", cls: "" };
    // every time of the column is at midnight: its dates alone, as pandas and R print them
    if (column.type === "datetime" && column.midnight && typeof value === "string") return { text: value.slice(0, 10), cls: "" };
    return { text: String(value), cls: "" };
  }

  function plainText(value, column) {
    // what a copy puts in a cell: no thousands separators, NA as empty
    if (value === null || value === undefined) return "";
    if (typeof value === "boolean") return value ? "true" : "false";
    return String(value).replace(/[\t\n\r]/g, " ");
  }

  // -- a column filter's text as the protocol's filters --------------------------------------------
  // numbers, dates: >3  <=2.5  =1  !=0  1..5  NA  !NA ; text: contains, =exact, ^start, end$, /regex/
  function parseFilter(text, index, column) {
    const t = text.trim();
    if (!t) return null;
    if (t.toUpperCase() === "NA") return { column: index, op: "is_na" };
    if (t.toUpperCase() === "!NA") return { column: index, op: "not_na" };
    const ordered = NUMERIC.has(column.type) || column.type === "date" || column.type === "datetime";
    if (column.type === "boolean" && /^(true|false)$/i.test(t)) {
      return { column: index, op: t.toLowerCase() === "true" ? "is_true" : "is_false" };
    }
    if (ordered || column.type === "boolean") {
      const range = t.match(/^(\S+)\s*\.\.\s*(\S+)$/);
      if (range) return { column: index, op: "between", low: range[1], high: range[2] };
      const compare = t.match(/^(>=|<=|!=|>|<|=)\s*(.+)$/);
      if (compare) return { column: index, op: compare[1], value: compare[2].trim() };
      if (NUMERIC.has(column.type) && !Number.isNaN(Number(t))) return { column: index, op: "=", value: t };
      return { column: index, op: "contains", value: t };
    }
    if (t.length > 2 && t.startsWith("/") && t.endsWith("/")) return { column: index, op: "regex", value: t.slice(1, -1) };
    if (t.startsWith("=")) return { column: index, op: "=", value: t.slice(1) };
    if (t.startsWith("^")) return { column: index, op: "starts_with", value: t.slice(1) };
    if (t.endsWith("$") && t.length > 1) return { column: index, op: "ends_with", value: t.slice(0, -1) };
    return { column: index, op: "contains", value: t };
  }

  function download(name, text, type) {
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    document.body.append(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  // -- the grid -----------------------------------------------------------------------------------
  // options: { title, ask(command, args) -> Promise of the answer }
  function mount(container, options) {
    const ask = options.ask;
    const st = {
      columns: [], widths: [], pinned: new Set(), resized: new Set(), total: 0, rows: 0, sort: [], filters: {},
      search: "", blocks: new Map(), pending: new Set(), generation: 0, timer: null,
      active: { row: 0, col: 0 }, anchor: null, profileColumn: null, source: "",
      order: [], x: [], shown: [], headerNodes: new Map(),
    };

    const info = el("span", { class: "fbgrid-info", "data-testid": "table-info" }, "loading…");
    const search = el("input", { type: "search", placeholder: "search all columns", "aria-label": "search all columns",
      "data-testid": "table-filter", oninput: () => later(() => { st.search = search.value; changed(); }, 250) });
    const codeLanguage = el("select", { "aria-label": "code language", "data-testid": "code-language" },
      ["pandas", "polars", "dplyr"].map((name) => el("option", { value: name }, name)));
    const bar = el("div", { class: "fbgrid-bar" }, search,
      el("button", { type: "button", "data-testid": "export-csv", onclick: () => exportAs("csv") }, "Export CSV"),
      el("button", { type: "button", "data-testid": "export-tsv", onclick: () => exportAs("tsv") }, "Export TSV"),
      el("button", { type: "button", "data-testid": "copy-selection", onclick: () => copySelection() }, "Copy"),
      codeLanguage,
      el("button", { type: "button", "data-testid": "convert-code", onclick: () => showCode() }, "Convert to code"),
      info);
    const header = el("div", { class: "fbgrid-header", role: "row" });
    const filterRow = el("div", { class: "fbgrid-filters" });
    const head = el("div", { class: "fbgrid-head" }, header, filterRow);
    const body = el("div", { class: "fbgrid-body", role: "rowgroup" });
    const spacer = el("div", { class: "fbgrid-spacer" }, body);
    const viewport = el("div", { class: "fbgrid-viewport", tabindex: "0", role: "grid", "aria-label": options.title || "table",
      "data-testid": "grid" }, head, spacer);
    const side = el("aside", { class: "fbgrid-profile", hidden: true, "data-testid": "profile", "aria-live": "polite" });
    const codeBox = el("div", { class: "fbgrid-code", hidden: true, "data-testid": "code-box" });
    const root = el("div", { class: "fbgrid" }, bar, codeBox, el("div", { class: "fbgrid-main" }, viewport, side));
    container.append(root);

    function later(fn, ms) { clearTimeout(st.timer); st.timer = setTimeout(fn, ms); }

    function query() {
      const filters = [];
      st.columns.forEach((column, i) => {
        const found = st.filters[i] ? parseFilter(st.filters[i], i, column) : null;
        if (found) filters.push(found);
      });
      return { sort: st.sort.map(([column, descending]) => ({ column, descending })), filters, search: st.search };
    }

    function changed() {
      st.generation += 1;
      st.blocks.clear();
      st.pending.clear();
      viewport.scrollTop = 0;
      st.active.row = 0;
      st.anchor = null;
      fetchVisible(true);
      if (st.profileColumn !== null) showProfile(st.profileColumn);
    }

    // -- geometry -----------------------------------------------------------------------------
    // display order: pinned columns first (in their own order), then the others; st.order and the
    // columns' left edges (st.x) are computed once per layout, not per cell
    const displayOrder = () => st.order;
    function placeColumns() {
      st.order = [...st.columns.keys()].filter((i) => st.pinned.has(i))
        .concat([...st.columns.keys()].filter((i) => !st.pinned.has(i)));
      let x = 0;
      st.x = new Array(st.columns.length);
      for (const j of st.order) { st.x[j] = x; x += st.widths[j]; }
    }
    const left = (i) => st.x[i] || 0;
    const step = (col, delta) => {
      const order = displayOrder();
      const at = Math.max(0, Math.min(order.length - 1, order.indexOf(col) + delta));
      return order[at];
    };
    const totalWidth = () => st.widths.reduce((a, b) => a + b, 0);
    const chunked = () => st.columns.length > CHUNK;
    const chunkOf = (i) => (chunked() ? Math.floor(i / CHUNK) : 0);

    // the columns to render: the pinned ones and those within the view (plus a margin), so a
    // frame of thousands of columns costs what its visible part costs
    function visibleColumns() {
      const pinnedWidth = [...st.pinned].reduce((a, i) => a + st.widths[i], 0);
      const from = viewport.scrollLeft + pinnedWidth - COLUMN_MARGIN_PX;
      const to = viewport.scrollLeft + Math.max(viewport.clientWidth, 400) + COLUMN_MARGIN_PX;
      return st.order.filter((i) => st.pinned.has(i) || (st.x[i] + st.widths[i] >= from && st.x[i] <= to));
    }

    function scrollGeometry() {
      const full = st.total * ROW_HEIGHT;
      const height = Math.min(full, MAX_SCROLL_PX);
      const view = Math.max(1, viewport.clientHeight - head.offsetHeight);
      const scale = height > view && full > height ? (full - view) / (height - view) : 1;
      return { full, height, view, scale };
    }

    function firstVisible() {
      const g = scrollGeometry();
      const virtual = viewport.scrollTop * g.scale;
      return { row: Math.floor(virtual / ROW_HEIGHT), shift: virtual % ROW_HEIGHT, g };
    }

    function visibleCount() {
      return Math.ceil(scrollGeometry().view / ROW_HEIGHT) + 1;
    }

    // -- header ---------------------------------------------------------------------------------
    function buildHeader() {
      st.headerNodes.clear();
      placeColumns();
      renderHeader(true);
    }

    function headerNodes(i) {
      let found = st.headerNodes.get(i);
      if (!found) { found = makeHeader(i); st.headerNodes.set(i, found); }
      return found;
    }

    // the header cells and filter boxes of the rendered columns, in display order; the one
    // with the focus keeps it (and its caret) when the set changes
    function renderHeader(force) {
      const wanted = visibleColumns();
      if (!force && wanted.length === st.shown.length && wanted.every((i, n) => i === st.shown[n])) return;
      st.shown = wanted;
      const focused = document.activeElement;
      const caret = focused && focused.selectionStart !== undefined ? [focused.selectionStart, focused.selectionEnd] : null;
      header.replaceChildren(...wanted.map((i) => headerNodes(i).cell));
      filterRow.replaceChildren(...wanted.map((i) => headerNodes(i).filter));
      if (focused && root.contains(focused) && focused !== document.activeElement && (header.contains(focused) || filterRow.contains(focused))) {
        focused.focus({ preventScroll: true });
        if (caret) { try { focused.setSelectionRange(caret[0], caret[1]); } catch (error) { /* not a text box */ } }
      }
      layoutColumns();
      sortFlags();
    }

    function makeHeader(i) {
      const column = st.columns[i];
      const flag = el("span", { class: "fbgrid-sort" });
      const cell = el("div", {
        class: `fbgrid-hcell${NUMERIC.has(column.type) ? " num" : ""}`, role: "columnheader", tabindex: "0",
        title: `${column.name}: ${column.dtype || column.type}${column.tz ? " (" + column.tz + ")" : ""}. ` +
          "Click or Enter: sort; shift: add a sort key",
        "data-testid": `col-${column.name}`, "data-index": i,
        onclick: (event) => { if (!event.target.closest(".fbgrid-resize, .fbgrid-hbutton")) toggleSort(i, event.shiftKey); },
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggleSort(i, event.shiftKey); }
        },
      },
      el("span", { class: "fbgrid-icon", "data-type": column.type, "aria-hidden": "true" }, TYPE_ICONS[column.type] || "?"),
      el("span", { class: "fbgrid-name" }, column.name), flag,
      el("button", { type: "button", class: "fbgrid-hbutton", title: "profile of this column", "aria-label": `profile of ${column.name}`,
        "data-testid": `profile-${column.name}`, onclick: () => showProfile(i) }, "≡"),
      el("button", { type: "button", class: "fbgrid-hbutton", title: "pin this column to the left", "aria-label": `pin ${column.name}`,
        "data-testid": `pin-${column.name}`, onclick: () => togglePin(i) }, "⇤"),
      el("span", { class: "fbgrid-resize", "aria-hidden": "true", onmousedown: (event) => startResize(event, i) }));
      const filter = el("div", { class: "fbgrid-fcell", "data-index": i }, el("input", {
        type: "search", "aria-label": `filter ${column.name}`, "data-testid": `colfilter-${column.name}`,
        placeholder: NUMERIC.has(column.type) ? ">0, 1..5, NA" : column.type === "date" || column.type === "datetime"
          ? ">=2024-01-01" : "contains, =x, NA",
        value: st.filters[i] || null,
        oninput: (event) => later(() => { st.filters[i] = event.target.value; changed(); }, 300),
      }));
      return { cell, filter };
    }

    function sortFlags() {
      header.querySelectorAll(".fbgrid-hcell").forEach((cell) => {
        const i = Number(cell.dataset.index);
        const rank = st.sort.findIndex(([c]) => c === i);
        const flag = cell.querySelector(".fbgrid-sort");
        flag.textContent = rank < 0 ? "" : (st.sort[rank][1] ? "▼" : "▲") + (st.sort.length > 1 ? String(rank + 1) : "");
        cell.setAttribute("aria-sort", rank < 0 ? "none" : st.sort[rank][1] ? "descending" : "ascending");
      });
    }

    function toggleSort(i, add) {
      const found = st.sort.find(([c]) => c === i);
      const others = add ? st.sort.filter(([c]) => c !== i) : [];
      if (!found) st.sort = add ? st.sort.concat([[i, false]]) : [[i, false]];
      else if (!found[1]) st.sort = add ? st.sort.map((s) => (s[0] === i ? [i, true] : s)) : [[i, true]];
      else st.sort = others;
      sortFlags();
      changed();
    }

    function togglePin(i) {
      if (st.pinned.has(i)) st.pinned.delete(i); else st.pinned.add(i);
      placeColumns();
      renderHeader(true);
      render();
      fetchVisible(false);
    }

    function placeCell(node, i) {
      node.style.width = `${st.widths[i]}px`;
      node.style.left = `${left(i)}px`;
      node.classList.toggle("pinned", st.pinned.has(i));
    }

    function layoutColumns() {
      placeColumns();
      const width = `${totalWidth()}px`;
      header.style.width = width;
      filterRow.style.width = width;
      spacer.style.width = width;
      header.childNodes.forEach((node) => placeCell(node, Number(node.dataset.index)));
      filterRow.childNodes.forEach((node) => placeCell(node, Number(node.dataset.index)));
      stickPinned();
    }

    function stickPinned() {
      // pinned columns come first and stay at the left edge while the rest scrolls under them
      const x = viewport.scrollLeft;
      root.querySelectorAll(".fbgrid-hcell, .fbgrid-fcell, .fbgrid-cell").forEach((node) => {
        node.style.transform = node.classList.contains("pinned") ? `translateX(${x}px)` : "";
      });
    }

    function startResize(event, i) {
      event.preventDefault();
      event.stopPropagation();
      const startX = event.clientX;
      const startWidth = st.widths[i];
      st.resized.add(i);
      const move = (e) => {
        st.widths[i] = Math.max(40, startWidth + e.clientX - startX);
        layoutColumns();
        render();
      };
      const up = () => { window.removeEventListener("mousemove", move); window.removeEventListener("mouseup", up); };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    }

    // -- data -------------------------------------------------------------------------------------
    // a block is BLOCK rows of one chunk of columns (all of them for a narrow table)
    function cellAt(row, col) {
      const block = st.blocks.get(`${Math.floor(row / BLOCK)}:${chunkOf(col)}`);
      if (!block) return null;
      const offset = row - block.start;
      return offset < block.rows.length ? { block, offset, value: block.cells[col - block.colStart][offset] } : null;
    }

    async function fetchBlock(number, chunk, generation) {
      const key = `${number}:${chunk}`;
      if (st.blocks.has(key) || st.pending.has(key)) return;
      st.pending.add(key);
      try {
        const args = { ...query(), start: number * BLOCK, count: BLOCK };
        if (chunked()) {
          args.columns = [];
          for (let i = chunk * CHUNK; i < Math.min(st.columns.length, (chunk + 1) * CHUNK); i++) args.columns.push(i);
        }
        const answer = await ask("rows", args);
        if (generation !== st.generation) return;
        answer.colStart = chunk * CHUNK;
        st.total = answer.total;
        st.source = answer.source || "";
        st.blocks.set(key, answer);
        fitWidths(answer);
        while (st.blocks.size > MAX_BLOCKS) st.blocks.delete(st.blocks.keys().next().value);
        sizeSpacer();
        render();
      } catch (error) {
        if (generation !== st.generation) return;
        if (/busy|still being written/i.test(error.message)) {
          info.textContent = "loading… (the worker is still writing the table)";
          setTimeout(() => { st.pending.delete(key); fetchVisible(); }, 700);
          return;
        }
        info.textContent = `error: ${error.message}`;
      } finally {
        if (generation === st.generation) st.pending.delete(key);
      }
    }

    function fetchVisible(now) {
      const run = () => {
        const first = firstVisible().row;
        const last = first + visibleCount();
        const from = Math.max(0, Math.floor(first / BLOCK) - OVERFETCH);
        const to = Math.floor(last / BLOCK) + OVERFETCH;
        const maxBlock = st.total ? Math.floor((st.total - 1) / BLOCK) : 0;
        const chunks = [...new Set(visibleColumns().map(chunkOf))];
        for (let n = from; n <= Math.min(to, maxBlock); n++) chunks.forEach((c) => fetchBlock(n, c, st.generation));
      };
      if (now) run(); else { clearTimeout(st.fetchTimer); st.fetchTimer = setTimeout(run, DEBOUNCE_MS); }
    }

    function fitWidths(answer) {
      // columns grow (never shrink) to fit the rows that arrive, unless the user sized them
      let grown = false;
      (answer.columns || []).forEach((i, n) => {
        const column = st.columns[i];
        if (!column || st.resized.has(i)) return;
        const texts = (answer.cells[n] || []).map((v) => formatCell(v, column).text);
        const wanted = Math.max(column.name.length * 8 + 92, ...texts.map((t) => t.length * 7.6 + 22));
        const width = Math.min(360, Math.round(wanted));
        if (width > st.widths[i]) { st.widths[i] = width; grown = true; }
      });
      if (grown) layoutColumns();
    }

    function sizeSpacer() {
      spacer.style.height = `${scrollGeometry().height}px`;
    }

    // -- rows -------------------------------------------------------------------------------------
    function selectedColumns() {
      const a = st.anchor || st.active;
      const order = displayOrder();
      const from = order.indexOf(a.col);
      const to = order.indexOf(st.active.col);
      return order.slice(Math.min(from, to), Math.max(from, to) + 1);
    }

    function inSelection(row, col, columns) {
      const a = st.anchor || st.active;
      const b = st.active;
      return row >= Math.min(a.row, b.row) && row <= Math.max(a.row, b.row) && columns.has(col);
    }

    function render() {
      if (!st.columns.length) return;
      const { row: first, shift } = firstVisible();
      const count = Math.min(visibleCount(), Math.max(0, st.total - first));
      body.style.transform = `translateY(${viewport.scrollTop - shift}px)`;
      renderHeader(false);
      const columns = st.shown;
      const selected = new Set(selectedColumns());
      const rows = [];
      let missing = 0;
      for (let r = first; r < first + count; r++) {
        let position = "";
        let rowMissing = false;
        const cells = columns.map((i) => {
          const column = st.columns[i];
          const found = cellAt(r, i);
          if (!found) rowMissing = true;
          else position = found.block.rows[found.offset];
          const shown = found ? formatCell(found.value, column) : { text: "…", cls: "loading" };
          const node = el("div", {
            class: `fbgrid-cell ${NUMERIC.has(column.type) ? "num " : ""}${column.role === "label" ? "label " : ""}${shown.cls}` +
              (inSelection(r, i, selected) ? " selected" : "") + (st.active.row === r && st.active.col === i ? " active" : ""),
            role: "gridcell", "data-row": r, "data-col": i,
          }, shown.text);
          placeCell(node, i);
          return node;
        });
        if (rowMissing) missing += 1;
        rows.push(el("div", { class: "fbgrid-row", role: "row", "aria-rowindex": r + 1, "data-row": r,
          "data-position": position }, cells));
      }
      body.replaceChildren(...rows);
      stickPinned();
      const filtered = st.total !== st.rows ? ` (filtered from ${integerFormat.format(st.rows)})` : "";
      const shown = st.total ? `rows ${integerFormat.format(first + 1)}–${integerFormat.format(first + count)} of ` +
        `${integerFormat.format(st.total)}${filtered}` : `no rows${filtered}`;
      info.textContent = missing ? `${shown} · loading…` : shown;
      info.dataset.total = String(st.total);
      info.dataset.first = String(first);
      info.dataset.loaded = missing ? "false" : "true";
      info.dataset.source = st.source;
    }

    viewport.addEventListener("scroll", () => {
      render();
      fetchVisible(false);
    }, { passive: true });
    window.addEventListener("resize", () => { sizeSpacer(); render(); fetchVisible(false); });

    // -- keyboard and selection ----------------------------------------------------------------------
    function moveTo(row, col, extend) {
      if (!st.total) return;
      if (extend && !st.anchor) st.anchor = { ...st.active };
      if (!extend) st.anchor = null;
      st.active = { row: Math.max(0, Math.min(st.total - 1, row)), col: Math.max(0, Math.min(st.columns.length - 1, col)) };
      scrollIntoView(st.active.row, st.active.col);
      render();
      fetchVisible(false);
    }

    function scrollIntoView(row, col) {
      const g = scrollGeometry();
      const { row: first } = firstVisible();
      const rowsInView = Math.max(1, Math.floor(g.view / ROW_HEIGHT) - 1);
      if (row < first) viewport.scrollTop = (row * ROW_HEIGHT) / g.scale;
      else if (row >= first + rowsInView) viewport.scrollTop = ((row - rowsInView + 1) * ROW_HEIGHT) / g.scale;
      const x = left(col);
      const pinnedWidth = [...st.pinned].filter((i) => i !== col).reduce((a, i) => a + st.widths[i], 0);
      if (!st.pinned.has(col)) {
        if (x - pinnedWidth < viewport.scrollLeft) viewport.scrollLeft = x - pinnedWidth;
        else if (x + st.widths[col] > viewport.scrollLeft + viewport.clientWidth) {
          viewport.scrollLeft = x + st.widths[col] - viewport.clientWidth;
        }
      }
    }

    viewport.addEventListener("keydown", (event) => {
      if (event.target !== viewport) return;
      const { row, col } = st.active;
      const page = Math.max(1, Math.floor(scrollGeometry().view / ROW_HEIGHT) - 1);
      const ctrl = event.ctrlKey || event.metaKey;
      const moves = {
        ArrowDown: [row + 1, col], ArrowUp: [row - 1, col], ArrowLeft: [row, step(col, -1)], ArrowRight: [row, step(col, 1)],
        PageDown: [row + page, col], PageUp: [row - page, col],
        Home: ctrl ? [0, col] : [row, step(col, -st.columns.length)],
        End: ctrl ? [st.total - 1, col] : [row, step(col, st.columns.length)],
      };
      if (moves[event.key]) {
        event.preventDefault();
        if (event.key === "Home" && !ctrl) viewport.scrollLeft = 0;  // the row's start, scrolled back
        moveTo(moves[event.key][0], moves[event.key][1], event.shiftKey);
      } else if (ctrl && event.key.toLowerCase() === "a") {
        event.preventDefault();
        st.anchor = { row: 0, col: 0 };
        st.active = { row: st.total - 1, col: st.columns.length - 1 };
        render();
      }
    });

    body.addEventListener("mousedown", (event) => {
      const cell = event.target.closest(".fbgrid-cell");
      if (!cell) return;
      viewport.focus({ preventScroll: true });
      moveTo(Number(cell.dataset.row), Number(cell.dataset.col), event.shiftKey);
    });

    async function selectionText() {
      const a = st.anchor || st.active;
      const b = st.active;
      const rows = [Math.min(a.row, b.row), Math.max(a.row, b.row)];
      const cols = selectedColumns();
      const lines = [];
      let complete = true;
      for (let r = rows[0]; r <= rows[1] && complete; r++) {
        const found = cols.map((c) => cellAt(r, c));
        if (found.some((f) => !f)) { complete = false; break; }
        lines.push(cols.map((c, n) => plainText(found[n].value, st.columns[c])).join("\t"));
      }
      if (complete) {
        const headerLine = rows[1] > rows[0] || cols.length > 1 ? cols.map((c) => st.columns[c].name).join("\t") + "\n" : "";
        return headerLine + lines.join("\n") + (lines.length > 1 ? "\n" : "");
      }
      const answer = await ask("export", { ...query(), format: "tsv", start: rows[0], count: rows[1] - rows[0] + 1, columns: cols });
      return answer.text;
    }

    async function copySelection(event) {
      let text;
      try {
        text = await selectionText();
      } catch (error) {
        info.textContent = `copy failed: ${error.message}`;
        return;
      }
      root.dataset.copied = text;
      try {
        await navigator.clipboard.writeText(text);
        info.textContent = `copied ${text.split("\n").filter(Boolean).length} line(s)`;
      } catch (error) {
        info.textContent = "copied into the page only (the browser refused the clipboard)";
      }
    }

    viewport.addEventListener("copy", (event) => {
      // small selections are copied synchronously from the rows at hand
      const a = st.anchor || st.active;
      const rowsAtHand = Math.abs(st.active.row - a.row) + 1 <= BLOCK * 3;
      if (!rowsAtHand) return;
      event.preventDefault();
      copySelection();
    });
    viewport.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "c" && event.target === viewport) {
        event.preventDefault();
        copySelection();
      }
    });

    // -- export, code, profile ------------------------------------------------------------------------
    async function exportAs(format) {
      info.textContent = `exporting ${format.toUpperCase()}…`;
      try {
        const answer = await ask("export", { ...query(), format });
        download(`${(options.title || "table").replace(/[^\w.-]+/g, "_")}.${format}`, answer.text,
          format === "csv" ? "text/csv" : "text/tab-separated-values");
        info.textContent = `exported ${integerFormat.format(answer.rows)} rows${answer.truncated ? " (cut at the export limit)" : ""}`;
      } catch (error) {
        info.textContent = `export failed: ${error.message}`;
      }
    }

    async function showCode() {
      try {
        const answer = await ask("code", { ...query(), language: codeLanguage.value });
        const pre = el("pre", { "data-testid": "code" }, answer.code);
        codeBox.replaceChildren(pre,
          el("button", { type: "button", onclick: () => navigator.clipboard.writeText(answer.code).catch(() => {}) }, "Copy code"),
          el("button", { type: "button", onclick: () => { codeBox.hidden = true; } }, "Close"));
        codeBox.hidden = false;
      } catch (error) {
        info.textContent = `convert to code failed: ${error.message}`;
      }
    }

    function histogram(data) {
      const ns = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(ns, "svg");
      const width = 220;
      const height = 70;
      svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
      svg.setAttribute("class", "fbgrid-histogram");
      svg.setAttribute("data-testid", "histogram");
      const top = Math.max(1, ...data.counts);
      const w = width / data.counts.length;
      data.counts.forEach((count, n) => {
        const bar = document.createElementNS(ns, "rect");
        const h = (count / top) * (height - 2);
        bar.setAttribute("x", String(n * w + 0.5));
        bar.setAttribute("y", String(height - h));
        bar.setAttribute("width", String(Math.max(1, w - 1)));
        bar.setAttribute("height", String(h));
        const tip = document.createElementNS(ns, "title");
        tip.textContent = `${data.edges[n].toPrecision(4)} – ${data.edges[n + 1].toPrecision(4)}: ${count}`;
        bar.append(tip);
        svg.append(bar);
      });
      return svg;
    }

    async function showProfile(i) {
      st.profileColumn = i;
      const column = st.columns[i];
      side.hidden = false;
      side.replaceChildren(el("h4", {}, column.name, " ", el("span", { class: "muted" }, column.dtype || column.type)),
        el("p", { class: "muted" }, "computing…"));
      let p;
      try {
        p = await ask("profile", { ...query(), column: i });
      } catch (error) {
        side.replaceChildren(el("p", { class: "error" }, error.message));
        return;
      }
      if (st.profileColumn !== i) return;
      const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? integerFormat.format(v) : floatFormat.format(v)) : String(v));
      const lines = [["rows", p.rows], ["NA", p.na]];
      if (p.nan) lines.push(["NaN", p.nan]);
      if (p.inf) lines.push(["Inf", p.inf]);
      if (p.empty !== undefined) lines.push(["empty", p.empty]);
      if (p.distinct !== undefined) lines.push(["distinct", p.distinct]);
      for (const [key, value] of Object.entries(p.stats || {})) lines.push([key, value]);
      const table = el("table", { class: "fbgrid-stats", "data-testid": "profile-stats" },
        lines.map(([k, v]) => el("tr", { "data-key": k }, el("th", {}, k), el("td", {}, fmt(v)))));
      const parts = [el("h4", {}, column.name, " ", el("span", { class: "muted" }, column.dtype || column.type)), table];
      if (p.histogram) parts.push(histogram(p.histogram));
      if (p.frequent) {
        const most = Math.max(1, ...p.frequent.counts);
        parts.push(el("table", { class: "fbgrid-frequent", "data-testid": "profile-frequent" },
          p.frequent.values.map((v, n) => el("tr", {}, el("td", {}, v),
            el("td", { class: "num" }, integerFormat.format(p.frequent.counts[n])),
            el("td", {}, el("span", { class: "fbgrid-bar-fill", style: null, "data-share": p.frequent.counts[n] / most }))))),
        );
        if (p.frequent.other) parts.push(el("p", { class: "muted" }, `others: ${integerFormat.format(p.frequent.other)}`));
      }
      parts.push(el("button", { type: "button", onclick: () => { side.hidden = true; st.profileColumn = null; } }, "Close"));
      side.replaceChildren(...parts);
      side.querySelectorAll(".fbgrid-bar-fill").forEach((bar) => { bar.style.width = `${Number(bar.dataset.share) * 80}px`; });
    }

    // -- start -----------------------------------------------------------------------------------------
    async function start() {
      let schema;
      try {
        schema = await ask("schema", {});
      } catch (error) {
        if (/busy/i.test(error.message)) { setTimeout(start, 500); return; }
        info.textContent = `error: ${error.message}`;
        return;
      }
      st.columns = schema.columns;
      st.rows = schema.rows;
      st.total = schema.rows;
      st.widths = st.columns.map((c) => Math.max(c.name.length * 8 + 92, c.type === "datetime" && !c.midnight ? 180 : 110));
      st.columns.forEach((c, i) => { if (c.role === "label") st.pinned.add(i); });
      placeColumns();
      buildHeader();
      sortFlags();
      sizeSpacer();
      render();
      fetchVisible(true);
    }

    viewport.addEventListener("scroll", () => stickPinned(), { passive: true });
    start();
    return root;
  }

  window.filebridgeGrid = { mount, parseFilter, formatCell };
})();
