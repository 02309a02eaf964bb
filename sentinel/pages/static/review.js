// Keyboard-first review: a approve, r reject, e note, g regenerate, n/j next, k previous, x select, u undo,
// ? help. (Zoom and the edit views are viewer.js's.)
"use strict";
(function () {
  // Keys type into text fields; a ticked checkbox keeps the shortcuts working.
  const TYPING = "textarea, select, input:not([type=checkbox]):not([type=radio])";
  const byId = (id) => document.getElementById(id);
  const help = byId("help");
  const regenerate = byId("regenerate");

  function toggleHelp(show) {
    help.hidden = show === undefined ? !help.hidden : !show;
  }

  function follow(id) {
    const link = byId(id);
    if (link) window.location.assign(link.href);
  }

  // Approving cannot regenerate (only a rejection asks for a new image): the box is cleared rather than the
  // decision refused, so an approval with the box still ticked goes through as the approval it is.
  function clearRegenerateFor(decision) {
    if (decision === "approve" && regenerate) regenerate.checked = false;
  }

  function press(id) {
    const button = byId(id);
    if (button && !button.disabled) {
      button.disabled = true; // one decision per keypress, however fast the key repeats
      clearRegenerateFor(button.value);
      const form = button.form;
      const chosen = document.createElement("input");
      chosen.type = "hidden";
      chosen.name = button.name;
      chosen.value = button.value;
      form.appendChild(chosen);
      form.submit();
    }
  }

  const decision = byId("decision-form");
  if (decision) {
    decision.addEventListener("submit", (event) => {
      if (event.submitter) clearRegenerateFor(event.submitter.value);
    });
  }
  if (regenerate) {
    const approve = byId("approve");
    const mark = () => {
      if (approve) approve.title = regenerate.checked ? "Approving clears “regenerate”: only a rejection regenerates" : "";
    };
    regenerate.addEventListener("change", mark);
    mark();
  }

  // Bulk: the count of ticked rows, and the bulk buttons only while something is ticked.
  const bulk = byId("bulk-form");
  function countPicked() {
    if (!bulk) return;
    const picked = bulk.querySelectorAll("input.pick:checked").length;
    const label = byId("picked");
    if (label) label.textContent = picked ? `(${picked})` : "";
    for (const id of ["bulk-approve", "bulk-reject"]) {
      const button = byId(id);
      if (button) button.disabled = picked === 0;
    }
  }
  if (bulk) {
    bulk.addEventListener("change", countPicked);
    countPicked();
  }

  function pickCurrent() {
    const item = byId("item");
    if (!item || !bulk) return;
    const box = bulk.querySelector(`input.pick[value="${CSS.escape(item.dataset.evaluationId)}"]`);
    if (box) {
      box.checked = !box.checked;
      countPicked();
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.matches(TYPING)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const actions = {
      a: () => press("approve"),
      r: () => press("reject"),
      e: () => byId("note") && byId("note").focus(),
      g: () => regenerate && regenerate.click(),
      n: () => follow("next"),
      j: () => follow("next"),
      k: () => follow("previous"),
      x: pickCurrent,
      u: () => byId("undo") && byId("undo").click(),
      "?": () => toggleHelp(),
      Escape: () => toggleHelp(false),
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
})();
