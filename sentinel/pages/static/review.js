// Keyboard-first review: a approve, r reject, e note, g regenerate, n/j next, k previous, ? help.
"use strict";
(function () {
  const byId = (id) => document.getElementById(id);
  const help = byId("help");

  function toggleHelp(show) {
    help.hidden = show === undefined ? !help.hidden : !show;
  }

  function follow(id) {
    const link = byId(id);
    if (link) window.location.assign(link.href);
  }

  function press(id) {
    const button = byId(id);
    if (button && !button.disabled) {
      button.disabled = true; // one decision per keypress, however fast the key repeats
      const form = button.form;
      const chosen = document.createElement("input");
      chosen.type = "hidden";
      chosen.name = button.name;
      chosen.value = button.value;
      form.appendChild(chosen);
      form.submit();
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.matches("input, textarea, select")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const actions = {
      a: () => press("approve"),
      r: () => press("reject"),
      e: () => byId("note") && byId("note").focus(),
      g: () => byId("regenerate") && byId("regenerate").click(),
      n: () => follow("next"),
      j: () => follow("next"),
      k: () => follow("previous"),
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
