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
    if (!(form instanceof HTMLFormElement && form.dataset.confirm)) return;
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    // Asked and answered here: the server need not show its own confirmation page (the one for JavaScript off).
    if (form.elements.confirmed) form.elements.confirmed.value = "1";
  }, true);
  // An answer htmx does not swap (403, 404, 5xx) or no answer at all must
  // still say something, next to what was clicked, whatever DEBUG is.
  function failureText(xhr) {
    if (!xhr || !xhr.status) return "The server could not be reached. Check your connection and try again.";
    if (xhr.status === 404) return "This is no longer here. Reload the page to see what changed.";
    if (xhr.status === 403) return "This was refused. Reload the page and try again.";
    return "Something went wrong on the server (error " + xhr.status + "). Nothing here changed; reload the page and try again.";
  }
  function clearFailure(anchor) {
    var next = anchor.nextElementSibling;
    if (next && next.hasAttribute("data-request-failure")) next.remove();
  }
  function showFailure(event) {
    var elt = event.detail.elt;
    if (!elt || !elt.isConnected) return;
    var anchor = elt.closest("form") || elt;
    clearFailure(anchor);
    var message = document.createElement("p");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.setAttribute("data-request-failure", "");
    message.textContent = failureText(event.detail.xhr);
    anchor.insertAdjacentElement("afterend", message);
  }
  document.addEventListener("htmx:responseError", showFailure);
  document.addEventListener("htmx:sendError", showFailure);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.isConnected) clearFailure(elt.closest("form") || elt);
  });
  // A card that answers a button replaces itself. Focus goes where the user
  // is heading: the card's own notice when it stayed open with something to
  // read (a failed follow, "connect your account"), else the next card's
  // first button, else the previous one's, else the answer's Undo.
  function firstControl(root) {
    return root && root.querySelector("[data-nudge-actions] button, [data-nudge-actions] a, [data-nudge-actions] input:not([type=hidden])");
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    var card = event.target;
    if (!(card instanceof Element) || !card.matches("[data-nudge]")) return;
    var notice = card.querySelector("[data-nudge-notice]");
    if (notice) {
      var control = notice.querySelector("a, button") || notice;
      control.focus();
      return;
    }
    if (card.hasAttribute("data-nudge-open")) {
      var own = firstControl(card);
      if (own) own.focus();
      return;
    }
    var target = null;
    for (var el = card.nextElementSibling; el && !target; el = el.nextElementSibling) {
      if (el.matches("[data-nudge-open]")) target = firstControl(el);
    }
    for (var prev = card.previousElementSibling; prev && !target; prev = prev.previousElementSibling) {
      if (prev.matches("[data-nudge-open]")) target = firstControl(prev);
    }
    target = target || card.querySelector("[data-undo] button") || card;
    target.focus();
  });
  // The review of follows: each button shows its key (K keep, Q quieter, U unfollow, J or the right arrow
  // next, Y yes, Esc cancel, Z undo) and the key presses the button of the card on screen. Typing in a
  // field is left alone; a button already on its way is not pressed twice.
  var REVIEW_KEYS = { arrowright: "j" };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var region = document.querySelector("[data-review]");
    var target = event.target;
    if (!region || (target instanceof Element && target.closest("input, textarea, select, [contenteditable]"))) return;
    var key = event.key.toLowerCase();
    key = REVIEW_KEYS[key] || key;
    if (!/^([a-z]|escape)$/.test(key)) return;
    var control = region.querySelector('[data-key="' + key + '"]');
    if (!control || control.closest(".htmx-request") || control.disabled) return;
    event.preventDefault();
    // A key pressed right after a swap may come before htmx has set up the new card (it does so once the
    // swap settles): set it up now, or the press would post the whole page instead.
    if (window.htmx) window.htmx.process(control.closest("form") || control);
    control.click();
  });
  // After a review answer: focus what it said, else the first button of the card now shown.
  document.addEventListener("htmx:afterSwap", function (event) {
    var region = event.target;
    if (!(region instanceof Element) || !region.matches("[data-review]")) return;
    var focus = region.querySelector("[data-review-actions] button, [data-review-actions] a") || region;
    focus.focus();
  });
  document.addEventListener("DOMContentLoaded", function () { enableDropzones(document); });
  document.addEventListener("htmx:afterSettle", function (event) { enableDropzones(event.target); });
})();
