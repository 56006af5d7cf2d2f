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
})();
