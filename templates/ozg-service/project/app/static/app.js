// Progressive enhancement only: every page works without JavaScript.
(function () {
  "use strict";

  // Move focus to the error summary, so screen reader users hear it first.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
    // Links in the summary focus the field itself and show its label above it.
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) { return; }
      event.preventDefault();
      var group = input.closest(".form-group") || input;
      group.scrollIntoView();
      input.focus({ preventScroll: true });
    });
  }

  // Do not send a form twice when its button is pressed twice.
  document.querySelectorAll("form[data-prevent-double-submit]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.submitted) {
        event.preventDefault();
        return;
      }
      form.dataset.submitted = "true";
      var button = form.querySelector("button[type='submit']");
      if (button) { button.setAttribute("aria-disabled", "true"); }
    });
  });

  // Warn before the session ends and let the citizen extend it without leaving the page.
  var warning = document.querySelector("[data-session-warning]");
  if (warning && window.fetch) {
    var expiresIn = parseInt(warning.dataset.expiresIn, 10);
    var warnBefore = parseInt(warning.dataset.warnBefore, 10);
    var timer = null;
    var arm = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        warning.hidden = false;
        warning.focus();
      }, Math.max(expiresIn - warnBefore, 0) * 1000);
    };
    arm();
    var extend = warning.querySelector("form");
    extend.addEventListener("submit", function (event) {
      event.preventDefault();
      window.fetch(extend.action, {
        method: "POST", body: new FormData(extend), credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (!response.ok) { extend.submit(); return; }
        warning.hidden = true;
        arm();
      }, function () { extend.submit(); });
    });
  }
})();
