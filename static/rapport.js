// Progressive enhancements; every page works without this file.
(function () {
  "use strict";
  function enableDropzones(root) {
    root.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      if (zone.dataset.dropzoneReady) return;
      zone.dataset.dropzoneReady = "1";
      var input = zone.querySelector("input[type=file]");
      if (!input) return;
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("dragging");
        });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        if (event.dataTransfer && event.dataTransfer.files.length) {
          input.files = event.dataTransfer.files;
          input.dispatchEvent(new Event("change", { bubbles: true }));
        }
      });
    });
  }
  // Forms that change a lot at once (merge, split) ask first; without
  // JavaScript they simply submit, and both can be undone.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);
  // After a card swaps itself out, keep keyboard focus in the list rather
  // than letting it fall back to the top of the page.
  document.addEventListener("htmx:afterSwap", function () {
    if (document.activeElement !== document.body) return;
    var list = document.getElementById("nudges");
    var next = list && list.querySelector("[data-nudge] button, [data-nudge] a");
    if (next) next.focus();
  });
  document.addEventListener("DOMContentLoaded", function () { enableDropzones(document); });
  document.addEventListener("htmx:afterSettle", function (event) { enableDropzones(event.target); });
})();
