/* Vicino: behaviour every page shares. No framework; htmx does the partial updates. */
(function () {
  "use strict";

  // Times are shown and typed in the browser's own zone (config.middleware.BrowserTimezoneMiddleware).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) && document.cookie.indexOf("vicino_tz=" + zone) === -1) {
      document.cookie = "vicino_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (err) { /* an old browser without Intl: times stay in UTC */ }

  var toastTimer = null;
  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 6000);
  }
  window.vicinoToast = toast;

  var MESSAGES = {
    403: "Your account can't do that.",
    404: "That is no longer available.",
    429: "Too many tries in a short time. Please wait a moment.",
  };
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    toast(MESSAGES[status] || "Something went wrong. Please try again.");
  });
  // A region that renders its own refusals (a 429 with the reason in place) says so with data-swap-errors.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.isError && target && target.closest && target.closest("[data-swap-errors]") &&
        event.detail.xhr && event.detail.xhr.status === 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:sendError", function () {
    toast("Vicino can't be reached. Check your connection and try again.");
  });

  // Parts of a form that only matter for one choice: data-shown-by="<field name>=<value>". Without
  // JavaScript every part shows, and the server ignores the ones the choice does not use.
  document.querySelectorAll("[data-shown-by]").forEach(function (part) {
    var rule = part.dataset.shownBy.split("="), form = part.closest("form");
    if (!form) { return; }
    function update() {
      var chosen = form.querySelector("[name=" + rule[0] + "]:checked");
      part.hidden = !chosen || chosen.value !== rule[1];
    }
    form.addEventListener("change", function (event) { if (event.target.name === rule[0]) { update(); } });
    update();
  });

  // A swapped card replaces the button that had focus: give focus back to the card's new action.
  var refocusId = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    refocusId = target && target.id && target.contains(document.activeElement) ? target.id : null;
  });
  var FOCUSABLE = "button, [role=alert], [role=status]";
  document.addEventListener("htmx:afterSettle", function () {
    if (!refocusId) { return; }
    var card = document.getElementById(refocusId);
    var action = card && (card.matches(FOCUSABLE) ? card : card.querySelector(FOCUSABLE));
    // A card that went away (a blocked person) hands focus to the page's status line, which says why.
    if (!card) { action = document.querySelector("[data-refocus-fallback]"); }
    if (action) {
      if (!action.matches("button")) { action.setAttribute("tabindex", "-1"); }
      action.focus();
    }
    refocusId = null;
  });
})();
