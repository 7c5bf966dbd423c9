// The workspace's small amount of behaviour on top of htmx: tell the annotator when a
// save did not reach the server (and try again), and jump to the first missing answer.
(function () {
  "use strict";
  const RETRY_MS = 3000;
  let retryTimer = null;

  function status(message) {
    const el = document.getElementById("save-status");
    if (el) {
      el.textContent = message;
      el.classList.add("is-error");
    }
  }

  function retryLater(form) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () { htmx.trigger(form, "change"); }, RETRY_MS);
  }

  document.addEventListener("htmx:sendError", function (event) {
    const form = event.detail.elt.closest && event.detail.elt.closest("#annotation-form");
    if (!form) return;
    status("Not saved: the server cannot be reached. Retrying…");
    retryLater(form);
  });

  document.addEventListener("htmx:responseError", function (event) {
    const form = event.detail.elt.closest && event.detail.elt.closest("#annotation-form");
    if (!form) return;
    status("Not saved: the server had a problem (" + event.detail.xhr.status + "). Retrying…");
    retryLater(form);
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.id !== "annotation-form") return;
    const el = document.getElementById("save-status");
    if (el && !el.classList.contains("is-error")) el.textContent = "Saving…";
  });

  // Mark every missing answer, and put the focus on the first one.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "submit-errors") return;
    const fields = Array.from(document.querySelectorAll("#submit-errors a[href^='#']"))
      .map(function (link) { return document.getElementById(link.getAttribute("href").slice(1)); })
      .filter(Boolean);
    fields.forEach(function (field) { field.classList.add("is-missing"); });
    if (!fields.length) return;
    fields[0].scrollIntoView({ block: "center" });
    const input = fields[0].querySelector("input, textarea");
    if (input) input.focus({ preventScroll: true });
  });

  document.addEventListener("change", function (event) {
    const field = event.target.closest && event.target.closest(".field.is-missing");
    if (field) field.classList.remove("is-missing");
  });
})();
