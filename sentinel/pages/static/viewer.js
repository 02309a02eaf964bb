// The review page's image viewer: zoom (wheel, buttons, + and -), pan (drag), fit (0, double-click), and for
// edits the source, the difference view and the mask overlay (s, d, m). Styles are set through the CSSOM, which
// the page's CSP allows (inline style attributes it does not).
"use strict";
(function () {
  // Keys type into text fields; a ticked checkbox keeps the shortcuts working.
  const TYPING = "textarea, select, input:not([type=checkbox]):not([type=radio])";
  const viewer = document.getElementById("viewer");
  if (!viewer) return;
  const stage = document.getElementById("viewer-stage");
  const canvas = document.getElementById("viewer-canvas");
  const level = document.getElementById("zoom-level");
  const original = document.getElementById("open-original");
  const maskToggle = document.getElementById("mask-toggle");
  const MIN = 1;
  const MAX = 16;
  const STEP = 1.25;
  let scale = 1;
  let x = 0;
  let y = 0;

  function clamp() {
    // Never lose the picture: at most the stage's own size may move out of view in either direction.
    const width = stage.clientWidth;
    const height = stage.clientHeight;
    x = Math.min(0, Math.max(width - width * scale, x));
    y = Math.min(0, Math.max(height - height * scale, y));
  }

  function apply() {
    clamp();
    canvas.style.transform = scale === 1 ? "" : `translate(${x}px, ${y}px) scale(${scale})`;
    if (level) level.textContent = scale === 1 ? "fit" : `${Math.round(scale * 100)}%`;
    viewer.dataset.zoom = String(scale);
  }

  // Zoom about a point of the stage (the cursor, or the centre), so what is under it stays under it.
  function zoomTo(next, px, py) {
    next = Math.min(MAX, Math.max(MIN, next));
    const cx = px === undefined ? stage.clientWidth / 2 : px;
    const cy = py === undefined ? stage.clientHeight / 2 : py;
    x = cx - ((cx - x) / scale) * next;
    y = cy - ((cy - y) / scale) * next;
    scale = next;
    apply();
  }

  function reset() {
    scale = 1;
    x = 0;
    y = 0;
    apply();
  }

  stage.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const box = stage.getBoundingClientRect();
      const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
      zoomTo(scale * factor, event.clientX - box.left, event.clientY - box.top);
    },
    { passive: false },
  );

  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    drag = { id: event.pointerId, startX: event.clientX - x, startY: event.clientY - y };
    stage.setPointerCapture(event.pointerId);
    stage.classList.add("dragging");
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag || drag.id !== event.pointerId) return;
    x = event.clientX - drag.startX;
    y = event.clientY - drag.startY;
    apply();
  });
  const endDrag = (event) => {
    if (drag && drag.id === event.pointerId) {
      drag = null;
      stage.classList.remove("dragging");
    }
  };
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);
  stage.addEventListener("dblclick", reset);
  window.addEventListener("resize", apply);

  const click = (id, action) => {
    const button = document.getElementById(id);
    if (button) button.addEventListener("click", action);
  };
  click("zoom-in", () => zoomTo(scale * STEP));
  click("zoom-out", () => zoomTo(scale / STEP));
  click("zoom-reset", reset);

  // -- edits: which picture is shown, and the mask over it --------------------------------------------------
  function show(mode) {
    if (!document.getElementById(`mode-${mode}`)) return;
    if (mode === "difference") {
      const picture = document.getElementById("difference-image");
      // Drawn by the server on first use only: most reviews never need it.
      if (picture && !picture.getAttribute("src")) picture.setAttribute("src", picture.dataset.src);
    }
    viewer.dataset.mode = mode;
    for (const button of viewer.querySelectorAll("button.mode")) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    }
    if (original) {
      const href = mode === "source" ? original.dataset.source : original.dataset.result;
      if (href) original.href = href;
    }
  }
  for (const button of viewer.querySelectorAll("button.mode")) {
    button.addEventListener("click", () => show(button.dataset.mode));
  }
  function toggle(mode) {
    show(viewer.dataset.mode === mode ? "result" : mode);
  }
  function setMask(on) {
    viewer.classList.toggle("mask-on", on);
    if (maskToggle) maskToggle.checked = on;
  }
  if (maskToggle) maskToggle.addEventListener("change", () => setMask(maskToggle.checked));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.matches(TYPING)) return;
    const actions = {
      "+": () => zoomTo(scale * STEP),
      "=": () => zoomTo(scale * STEP),
      "-": () => zoomTo(scale / STEP),
      "−": () => zoomTo(scale / STEP),
      0: reset,
      s: () => toggle("source"),
      d: () => toggle("difference"),
      m: () => maskToggle && setMask(!maskToggle.checked),
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  apply();
})();
