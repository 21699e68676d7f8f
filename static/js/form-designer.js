// The overlay designer (様式の配置): the scanned page as background, each placement as a box in millimetres.
// Drag a box to move it, drag its corner to resize, arrows nudge by 0.5 mm; "save" posts the whole layout as
// JSON and the server validates it (forms_engine.views.version_layout_save).
(function () {
  "use strict";
  const root = document.getElementById("designer");
  const dataNode = document.getElementById("designer-data");
  if (!root || !dataNode) return;

  const data = JSON.parse(dataNode.textContent);
  const text = data.text;
  const scale = data.scale; // px per mm
  const pageW = data.pageMm[0];
  const pageH = data.pageMm[1];
  const STEP = 0.5;
  const PT_TO_MM = 25.4 / 72;
  const readonly = Boolean(data.readonly);
  const layout = data.layout;
  const PLACEMENT_DEFAULTS = { page: 1, width: 60, height: 8, font_size: 11, align: "left", kind: "text" };
  layout.placements = (layout.placements || []).map((p) => Object.assign({}, PLACEMENT_DEFAULTS, p));
  layout.qr = Object.assign({ x: 187, y: 274, size: 18 }, layout.qr || {});
  const pages = layout.pages || [];

  const $ = (role) => root.querySelector(`[data-role="${role}"]`);
  const sheet = $("sheet");
  const panel = $("panel");
  const panelFields = $("panel-fields");
  const panelEmpty = $("panel-empty");
  const pageSelect = $("page-select");
  const placementPage = $("placement-page");
  const picker = $("picker");
  const statusNode = $("status");
  const errorsNode = $("errors");

  let currentPage = 1;
  let selected = null; // a placement index, "qr", or null
  let drag = null;
  let dirty = false;

  const snap = (v) => Math.round(v / STEP) * STEP;
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), Math.max(lo, hi));
  const px = (mm) => `${mm * scale}px`;

  function option(value, label) {
    const node = document.createElement("option");
    node.value = value;
    node.textContent = label;
    return node;
  }

  function item(key) {
    return key === "qr" ? null : layout.placements[key];
  }

  // --- drawing ------------------------------------------------------------------------------------------

  function placeBox(box, p) {
    box.style.left = px(p.x);
    box.style.top = px(p.y);
    box.style.width = px(p.width);
    box.style.height = px(p.height);
    box.style.fontSize = px(p.font_size * PT_TO_MM);
    box.style.textAlign = p.align;
    box.querySelector(".label").textContent = p.value;
    box.setAttribute("aria-label", p.value);
    box.classList.toggle("selected", selected === Number(box.dataset.index));
  }

  function placeQr(box) {
    const qr = layout.qr;
    box.style.left = px(qr.x);
    box.style.top = px(qr.y);
    box.style.width = px(qr.size);
    box.style.height = px(qr.size);
    box.classList.toggle("selected", selected === "qr");
  }

  function newBox(className, label) {
    const box = document.createElement("div");
    box.className = className;
    box.tabIndex = 0;
    const span = document.createElement("span");
    span.className = "label";
    span.textContent = label;
    box.append(span);
    if (!readonly) {
      const handle = document.createElement("span");
      handle.className = "handle";
      box.append(handle);
    }
    return box;
  }

  function draw() {
    sheet.style.width = px(pageW);
    sheet.style.height = px(pageH);
    const page = pages[currentPage - 1] || {};
    const url = page.background ? data.backgrounds[page.background] : "";
    sheet.style.backgroundImage = url ? `url("${url}")` : "none";
    sheet.replaceChildren();
    layout.placements.forEach((p, index) => {
      if (p.page !== currentPage) return;
      const box = newBox(`placement kind-${p.kind}`, p.value);
      box.dataset.index = String(index);
      box.dataset.testid = `placement-${index}`;
      box.setAttribute("role", "button");
      placeBox(box, p);
      sheet.append(box);
    });
    const qr = newBox("qr-box", text.qr);
    qr.dataset.index = "qr";
    qr.dataset.testid = "qr-box";
    qr.setAttribute("role", "button");
    qr.setAttribute("aria-label", text.qr);
    placeQr(qr);
    sheet.append(qr);
    fillPanel();
  }

  function boxOf(key) {
    return sheet.querySelector(`[data-index="${key}"]`);
  }

  function redrawOne(key) {
    const box = boxOf(key);
    if (!box) return;
    if (key === "qr") placeQr(box);
    else placeBox(box, layout.placements[key]);
  }

  function select(key) {
    const previous = selected;
    selected = key;
    if (previous !== null) redrawOne(previous);
    if (key !== null) redrawOne(key);
    fillPanel();
  }

  // --- the properties panel -------------------------------------------------------------------------------

  function fillPanel() {
    const p = selected === null ? null : item(selected);
    panelEmpty.hidden = Boolean(p);
    panelFields.disabled = readonly || !p;
    for (const name of ["value", "x", "y", "width", "height", "font_size", "align", "kind", "page"]) {
      panel.elements[name].value = p ? String(p[name]) : "";
    }
    panel.elements.qr_x.value = String(layout.qr.x);
    panel.elements.qr_y.value = String(layout.qr.y);
    panel.elements.qr_size.value = String(layout.qr.size);
  }

  function changed() {
    dirty = true;
    statusNode.textContent = text.unsaved;
  }

  panel.addEventListener("submit", (event) => event.preventDefault());
  panel.addEventListener("input", (event) => {
    const input = event.target;
    if (!input.name || readonly) return;
    if (input.name.startsWith("qr_")) {
      const number = parseFloat(input.value);
      if (Number.isNaN(number)) return;
      layout.qr[input.name.slice(3)] = number;
      redrawOne("qr");
      changed();
      return;
    }
    const p = selected === null ? null : item(selected);
    if (!p) return;
    if (["x", "y", "width", "height", "font_size"].includes(input.name)) {
      const number = parseFloat(input.value);
      if (Number.isNaN(number)) return;
      p[input.name] = number;
    } else if (input.name === "page") {
      p.page = Number(input.value);
      currentPage = p.page;
      pageSelect.value = String(currentPage);
      changed();
      draw();
      return;
    } else {
      p[input.name] = input.value;
    }
    if (input.name === "kind") boxOf(selected).className = `placement kind-${p.kind} selected`;
    redrawOne(selected);
    changed();
  });

  picker.addEventListener("change", () => {
    const p = selected === null ? null : item(selected);
    const field = data.fields.find((f) => f.key === picker.value);
    picker.value = "";
    if (!p || !field) return;
    p.value = `fields.${field.key}${field.type === "date" ? "|wareki" : ""}`;
    if (field.type === "signature") p.kind = "image";
    if (field.type === "checkbox") p.kind = "check";
    changed();
    draw();
  });

  // --- dragging and the keyboard ---------------------------------------------------------------------------

  function keyOf(box) {
    return box.dataset.index === "qr" ? "qr" : Number(box.dataset.index);
  }

  sheet.addEventListener("pointerdown", (event) => {
    const box = event.target.closest(".placement, .qr-box");
    if (!box) {
      select(null);
      return;
    }
    const key = keyOf(box);
    select(key);
    box.focus();
    if (readonly || event.button !== 0) return;
    event.preventDefault();
    const target = key === "qr" ? layout.qr : layout.placements[key];
    drag = {
      key,
      box,
      resize: event.target.classList.contains("handle"),
      startX: event.clientX,
      startY: event.clientY,
      original: Object.assign({}, target),
      moved: false,
    };
    box.setPointerCapture(event.pointerId);
  });

  function moveTo(key, original, dx, dy, resize) {
    if (key === "qr") {
      const qr = layout.qr;
      if (resize) {
        qr.size = clamp(snap(original.size + Math.max(dx, dy)), 10, Math.min(40, pageW - qr.x, pageH - qr.y));
      } else {
        qr.x = clamp(snap(original.x + dx), 0, Math.min(pageW - 10, pageW - qr.size));
        qr.y = clamp(snap(original.y + dy), 0, Math.min(pageH - 10, pageH - qr.size));
      }
      return;
    }
    const p = layout.placements[key];
    if (resize) {
      p.width = clamp(snap(original.width + dx), STEP, pageW - p.x);
      p.height = clamp(snap(original.height + dy), STEP, pageH - p.y);
    } else {
      p.x = clamp(snap(original.x + dx), 0, pageW - p.width);
      p.y = clamp(snap(original.y + dy), 0, pageH - p.height);
    }
  }

  sheet.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = (event.clientX - drag.startX) / scale;
    const dy = (event.clientY - drag.startY) / scale;
    moveTo(drag.key, drag.original, dx, dy, drag.resize);
    drag.moved = true;
    redrawOne(drag.key);
    fillPanel();
  });

  function endDrag(event) {
    if (!drag) return;
    if (drag.box.hasPointerCapture(event.pointerId)) drag.box.releasePointerCapture(event.pointerId);
    if (drag.moved) changed();
    drag = null;
  }
  sheet.addEventListener("pointerup", endDrag);
  sheet.addEventListener("pointercancel", endDrag);

  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  sheet.addEventListener("keydown", (event) => {
    if (readonly || selected === null) return;
    const arrow = ARROWS[event.key];
    if (arrow) {
      event.preventDefault();
      const step = event.shiftKey ? 10 * STEP : STEP;
      const target = selected === "qr" ? layout.qr : layout.placements[selected];
      moveTo(selected, Object.assign({}, target), arrow[0] * step, arrow[1] * step, false);
      redrawOne(selected);
      fillPanel();
      changed();
    } else if ((event.key === "Delete" || event.key === "Backspace") && selected !== "qr") {
      event.preventDefault();
      removeSelected();
    }
  });

  // --- the toolbar -------------------------------------------------------------------------------------

  function removeSelected() {
    if (selected === null || selected === "qr") return;
    layout.placements.splice(selected, 1);
    selected = null;
    changed();
    draw();
  }

  function add() {
    const first = data.fields[0];
    layout.placements.push(
      Object.assign({}, PLACEMENT_DEFAULTS, {
        value: first ? `fields.${first.key}${first.type === "date" ? "|wareki" : ""}` : "today|wareki",
        page: currentPage,
        x: 20,
        y: 20,
      }),
    );
    selected = layout.placements.length - 1;
    changed();
    draw();
    boxOf(selected).focus();
  }

  function showErrors(lines) {
    const list = errorsNode.querySelector("ul");
    list.replaceChildren(
      ...lines.map((line) => {
        const li = document.createElement("li");
        li.className = "mono";
        li.textContent = line;
        return li;
      }),
    );
    errorsNode.hidden = lines.length === 0;
  }

  async function save() {
    statusNode.textContent = text.saving;
    const token = root.querySelector("input[name=csrfmiddlewaretoken]").value;
    try {
      const response = await fetch(data.saveUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
        body: JSON.stringify(layout),
      });
      const result = await response.json();
      if (response.ok && result.ok) {
        dirty = false;
        statusNode.textContent = text.saved;
        showErrors([]);
      } else {
        statusNode.textContent = text.failed;
        showErrors(result.errors || [String(response.status)]);
      }
    } catch (error) {
      statusNode.textContent = text.failed;
      showErrors([String(error)]);
    }
  }

  pages.forEach((_, index) => pageSelect.append(option(String(index + 1), `${text.page} ${index + 1}`)));
  pages.forEach((_, index) => placementPage.append(option(String(index + 1), String(index + 1))));
  picker.append(option("", text.pickField));
  data.fields.forEach((f) => picker.append(option(f.key, `${f.label}（fields.${f.key}）`)));
  pageSelect.addEventListener("change", () => {
    currentPage = Number(pageSelect.value);
    selected = null;
    draw();
  });
  if (!readonly) {
    $("add").addEventListener("click", add);
    $("remove").addEventListener("click", removeSelected);
    $("save").addEventListener("click", save);
    window.addEventListener("beforeunload", (event) => {
      if (!dirty) return;
      event.preventDefault();
      event.returnValue = "";
    });
  }
  draw();
})();
