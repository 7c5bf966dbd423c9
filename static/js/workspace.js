// The workspace's behaviour on top of htmx. htmx posts the whole form on every change (the
// server refuses a stale version); this file makes sure nothing typed is lost (a dirty flag,
// a beacon when the page is hidden or closed, a warning while a save is pending or failed),
// and adds the keyboard, the rewrite diff, evidence passages from the sources, the raw-text
// and long-turn toggles, and the clock. After "Submit and next" htmx swaps the body for the
// next task while this script stays loaded, so everything per task starts again in init().
(function () {
  "use strict";

  const RETRY_MS = 3000;
  const VERDICT_KEYS = { 1: "supported", 2: "unsupported", 3: "contradicted" };
  const RAW_PREFERENCE = "turnwise.rawText";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }
  function theForm() { return document.getElementById("annotation-form"); }
  function closest(node, selector) {
    const el = node && (node.nodeType === 1 ? node : node.parentElement);
    return el && el.closest ? el.closest(selector) : null;
  }

  // --- Save state ----------------------------------------------------------------------
  // gen counts changes; sentGen is the change the last request carried. dirty: a change the
  // server has not confirmed. beacon: the version a beacon was sent with, until we know
  // whether it arrived (the page cannot read a beacon's answer).
  const state = {};
  let retryTimer = null;

  function resetState(form) {
    Object.assign(state, {
      task: form ? form.dataset.task : null,
      gen: 0,
      sentGen: 0,
      beaconGen: -1,
      dirty: false,
      inFlight: false,
      failed: false,
      conflict: false,
      leaving: false,
      beacon: null,
      resyncing: false,
    });
    clearTimeout(retryTimer);
    updateUnloadGuard();
  }

  function showStatus(message, isError) {
    const el = document.getElementById("save-status");
    if (!el) return;
    el.textContent = message;
    el.classList.toggle("is-error", Boolean(isError));
  }

  function showConflict(message) {
    state.conflict = true;
    const form = theForm();
    showStatus(message + " ", true);
    const link = document.createElement("a");
    link.href = form ? form.dataset.labelUrl : location.href;
    link.className = "button button-small";
    link.dataset.reload = "";
    link.textContent = "Reload";
    document.getElementById("save-status").append(link);
    updateUnloadGuard();
  }

  function retryLater(form) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () { htmx.trigger(form, "change"); }, RETRY_MS);
  }

  function needsWarning() {
    return Boolean(theForm()) && !state.leaving && (state.dirty || state.inFlight || state.failed);
  }

  function warnBeforeUnload(event) {
    if (!needsWarning()) return;
    event.preventDefault();
    event.returnValue = "";
  }

  // Only while there is something to lose: a beforeunload listener can keep a page out of
  // the back-forward cache.
  function updateUnloadGuard() {
    if (needsWarning()) window.addEventListener("beforeunload", warnBeforeUnload);
    else window.removeEventListener("beforeunload", warnBeforeUnload);
  }

  function isAnswerControl(el) {
    const form = theForm();
    return form && el.form === form && el.name && el.name !== "version" && el.name !== "csrfmiddlewaretoken";
  }

  function markDirty(event) {
    if (!isAnswerControl(event.target)) return;
    state.gen += 1;
    state.dirty = true;
    updateUnloadGuard();
  }
  // Capture: before htmx's own listener on the form starts the request that carries it.
  document.addEventListener("input", markDirty, true);
  document.addEventListener("change", markDirty, true);

  function isSave(elt) {
    return elt && (elt.id === "annotation-form" || elt.id === "submit-button");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    if (!isSave(elt)) return;
    if (elt.id === "annotation-form" && (state.conflict || state.beacon !== null)) {
      // Stale after a conflict; after a beacon, first find out whether it arrived.
      event.preventDefault();
      if (state.beacon !== null && document.visibilityState === "visible") resync();
      return;
    }
    state.inFlight = true;
    state.sentGen = state.gen;
    const el = document.getElementById("save-status");
    if (el && !el.classList.contains("is-error")) {
      state.shown = el.textContent.trim();
      el.textContent = elt.id === "submit-button" ? "Submitting…" : "Saving…";
    }
    updateUnloadGuard();
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (!isSave(event.detail.elt)) return;
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    state.inFlight = false;
    if (status >= 200 && status < 300) {
      clearTimeout(retryTimer);
      if (event.detail.elt.id === "annotation-form") {
        state.failed = false;
        if (state.gen === state.sentGen) state.dirty = false;
      }
    } else if (status === 409) {
      state.failed = true;
      state.conflict = true;
    } else if (event.detail.elt.id === "submit-button" && status === 400) {
      // Missing answers, listed beside the status: nothing was saved or submitted.
      const el = document.getElementById("save-status");
      if (el && el.textContent.trim() === "Submitting…") el.textContent = state.shown || "";
    } else {
      state.failed = true; // invalid answers, or no answer at all (see the retry below)
    }
    updateUnloadGuard();
  });

  document.addEventListener("htmx:sendError", function (event) {
    const form = closest(event.detail.elt, "#annotation-form");
    if (!form) return;
    state.failed = true;
    showStatus("Not saved: the server cannot be reached. Retrying…", true);
    retryLater(form);
  });

  document.addEventListener("htmx:responseError", function (event) {
    const form = closest(event.detail.elt, "#annotation-form");
    if (!form) return;
    state.failed = true;
    showStatus("Not saved: the server had a problem (" + event.detail.xhr.status + "). Retrying…", true);
    retryLater(form);
  });

  document.addEventListener("click", function (event) {
    if (closest(event.target, "[data-reload]")) state.leaving = true;
  });

  // --- Saving when the page goes away ------------------------------------------------------
  function sendBeacon() {
    const form = theForm();
    if (!form || !state.dirty || state.conflict || state.beaconGen === state.gen) return;
    if (!navigator.sendBeacon) return;
    const data = new FormData(form); // with the CSRF token and the version
    // ?beacon: the server answers with a bare status, not a page nobody will read.
    if (navigator.sendBeacon(form.dataset.saveUrl + "?beacon=1", data)) {
      state.beaconGen = state.gen;
      if (state.beacon === null) state.beacon = data.get("version");
    }
  }

  // What the form answers, comparable between this page and a fresh copy of it.
  function answersOf(form) {
    const entries = [];
    new FormData(form).forEach(function (value, name) {
      if (name === "version" || name === "csrfmiddlewaretoken") return;
      let text = String(value).replace(/\r\n?/g, "\n").trim();
      const input = form.elements.namedItem(name);
      if (text && input && input.dataset && "evidenceValue" in input.dataset) {
        try { text = JSON.stringify(JSON.parse(text)); } catch (e) { /* compared as it is */ }
      }
      if (text) entries.push(name + "=" + text);
    });
    return entries.sort().join("\n");
  }

  // After a beacon the page cannot know the version the server has. Load the task again: if
  // it holds our answers, the beacon arrived; if it is at our version, it did not (save
  // now); anything else was written elsewhere and is not overwritten.
  function resync() {
    const form = theForm();
    if (!form || state.resyncing || state.beacon === null) return;
    state.resyncing = true;
    const sentVersion = state.beacon;
    fetch(form.dataset.labelUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        state.resyncing = false;
        state.beacon = null;
        if (theForm() !== form) return;
        const fresh = new DOMParser().parseFromString(html, "text/html");
        const other = fresh.getElementById("annotation-form");
        if (!other || other.dataset.task !== form.dataset.task) {
          showConflict("This conversation is no longer open for you here; your last change may not be saved.");
          return;
        }
        const serverVersion = fresh.getElementById("annotation-version").value;
        if (answersOf(other) === answersOf(form)) {
          document.getElementById("annotation-version").value = serverVersion;
          state.dirty = false;
          state.failed = false;
          showStatus("Saved", false);
          updateUnloadGuard();
        } else if (serverVersion === sentVersion) {
          htmx.trigger(form, "change");
        } else {
          showConflict(
            "This annotation was changed elsewhere (another tab or device) since you loaded it. " +
            "Reload to see the latest version; your last change was not saved."
          );
        }
      })
      .catch(function () {
        state.resyncing = false;
        state.beacon = null;
        htmx.trigger(form, "change"); // the server refuses it if the beacon did arrive
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") sendBeacon();
    else if (state.beacon !== null) resync();
  });
  window.addEventListener("pagehide", sendBeacon);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && state.beacon !== null) resync();
  });

  // --- Missing answers after submit --------------------------------------------------------
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "submit-errors") return;
    const fields = $$("#submit-errors a[href^='#']")
      .map(function (link) { return document.getElementById(link.getAttribute("href").slice(1)); })
      .filter(Boolean);
    fields.forEach(function (field) { field.classList.add("is-missing"); });
    if (!fields.length) return;
    fields[0].scrollIntoView({ block: "center" });
    const input = fields[0].querySelector("input:not([type=hidden]), textarea, button") || fields[0];
    input.focus({ preventScroll: true });
    setCurrent(closest(fields[0], "[data-turn]"));
  });

  document.addEventListener("change", function (event) {
    const field = closest(event.target, ".field.is-missing");
    if (field) field.classList.remove("is-missing");
  });

  // --- Clock --------------------------------------------------------------------------------
  let clockTimer = null;

  function pad(n) { return String(n).padStart(2, "0"); }

  function startClock() {
    clearInterval(clockTimer);
    const el = document.getElementById("task-timer");
    if (!el) return;
    const started = Date.now() - Number(el.dataset.elapsed || 0) * 1000;
    function tick() {
      const seconds = Math.max(0, Math.floor((Date.now() - started) / 1000));
      el.textContent = pad(Math.floor(seconds / 60)) + ":" + pad(seconds % 60);
    }
    tick();
    clockTimer = setInterval(tick, 1000);
  }

  // --- Rewrite diff ---------------------------------------------------------------------------
  function normalText(text) { return text.replace(/\r\n?/g, "\n").trim(); }

  function countWords(text) { return text.split(/\s+/).filter(Boolean).length; }

  // Word by word, a rewritten sentence reads "today.the You same": keep a run of changes
  // (with the spaces between them) together, all that was removed then all that was added.
  function mergedChanges(parts) {
    const merged = [];
    let removed = "";
    let added = "";
    function flush() {
      if (removed) merged.push({ removed: true, value: removed });
      if (added) merged.push({ added: true, value: added });
      removed = added = "";
    }
    parts.forEach(function (part, index) {
      const next = parts[index + 1];
      if (part.added) added += part.value;
      else if (part.removed) removed += part.value;
      else if ((removed || added) && !part.value.trim() && next && (next.added || next.removed)) {
        removed += part.value;
        added += part.value;
      } else {
        flush();
        merged.push(part);
      }
    });
    flush();
    return merged;
  }

  function renderDiff(textarea) {
    const field = closest(textarea, ".field");
    const out = $("[data-rewrite-diff]", field);
    const summary = $("[data-rewrite-summary]", field);
    if (!out || !summary) return;
    const original = textarea.dataset.original;
    const value = textarea.value;
    field.classList.remove("is-edited", "is-empty");
    if (!value.trim()) {
      field.classList.add("is-empty");
      out.hidden = true;
      summary.textContent = "Empty: no rewrite is saved. Reset to start from the reply again.";
      return;
    }
    if (normalText(value) === normalText(original)) {
      out.hidden = true;
      summary.textContent = "Unchanged: it is saved once you edit it.";
      return;
    }
    field.classList.add("is-edited");
    if (!window.Diff) {
      out.hidden = true;
      summary.textContent = "Edited.";
      return;
    }
    let added = 0;
    let removed = 0;
    const fragment = document.createDocumentFragment();
    mergedChanges(Diff.diffWordsWithSpace(original, value)).forEach(function (part) {
      if (!part.added && !part.removed) {
        fragment.append(document.createTextNode(part.value));
        return;
      }
      const el = document.createElement(part.added ? "ins" : "del");
      el.textContent = part.value;
      fragment.append(el);
      if (part.added) added += countWords(part.value);
      else removed += countWords(part.value);
    });
    out.replaceChildren(fragment);
    out.hidden = false;
    summary.textContent = "Edited: " + added + " word" + (added === 1 ? "" : "s") + " added, " +
      removed + " removed.";
  }

  const diffTimers = new WeakMap();
  document.addEventListener("input", function (event) {
    const textarea = event.target;
    if (!textarea.matches || !textarea.matches("textarea[data-original]")) return;
    clearTimeout(diffTimers.get(textarea));
    diffTimers.set(textarea, setTimeout(function () { renderDiff(textarea); }, 120));
  });

  document.addEventListener("click", function (event) {
    const reset = closest(event.target, "[data-rewrite-reset]");
    if (!reset) return;
    const textarea = $("textarea[data-original]", closest(reset, ".field"));
    textarea.value = textarea.dataset.original;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.dispatchEvent(new Event("change", { bubbles: true }));
    renderDiff(textarea);
    textarea.focus();
  });

  // --- Raw text and long turns ----------------------------------------------------------------
  function setRaw(turn, on) {
    turn.classList.toggle("show-raw", on);
    const button = $("[data-raw-toggle]", turn);
    if (button) button.setAttribute("aria-pressed", String(on));
  }

  function setAllRaw(on) {
    $$(".turn").forEach(function (turn) { setRaw(turn, on); });
    const box = document.getElementById("raw-toggle");
    if (box) box.checked = on;
    try { localStorage.setItem(RAW_PREFERENCE, on ? "1" : ""); } catch (e) { /* private mode */ }
  }

  function toggleLong(button, expand) {
    const body = document.getElementById(button.getAttribute("aria-controls"));
    const open = expand === undefined ? body.classList.contains("is-collapsed") : expand;
    body.classList.toggle("is-collapsed", !open);
    button.setAttribute("aria-expanded", String(open));
    button.firstChild.textContent = open ? "Show less " : "Show all ";
  }

  document.addEventListener("click", function (event) {
    const raw = closest(event.target, "[data-raw-toggle]");
    if (raw) {
      const turn = closest(raw, ".turn");
      setRaw(turn, !turn.classList.contains("show-raw"));
      return;
    }
    const more = closest(event.target, "[data-show-all]");
    if (more) toggleLong(more);
  });

  document.addEventListener("change", function (event) {
    if (event.target.id === "raw-toggle") setAllRaw(event.target.checked);
  });

  // --- Moving between turns and questions -----------------------------------------------------
  // The turn being labeled (kept here, not read back from the class: while htmx settles a
  // swapped-in task, the new turns briefly carry the old turns' classes).
  let current = null;

  function setCurrent(stop) {
    if (!stop) return;
    $$("[data-turn].is-current").forEach(function (el) {
      if (el !== stop) el.classList.remove("is-current");
    });
    stop.classList.add("is-current");
    current = stop;
  }

  function currentStop() {
    const focused = closest(document.activeElement, "[data-turn]");
    if (focused) return focused;
    return current && document.contains(current) ? current : null;
  }

  // The control a question's keys act on: a choice, or the question itself (text, rewrite
  // and evidence), so that letters keep working until Tab goes into the text box.
  function focusQuestion(field) {
    let target = field;
    if (field.matches(".field-single, .field-boolean, .field-rating")) {
      target = $("input[type=radio]:checked", field) || $("input[type=radio]", field);
    } else if (field.matches(".field-multi")) {
      target = $("input[type=checkbox]", field);
    }
    target.focus({ preventScroll: true });
    setCurrent(closest(field, "[data-turn]"));
  }

  function goToStop(stop) {
    setCurrent(stop);
    const field = $(".field", stop);
    if (field) focusQuestion(field);
    else stop.focus({ preventScroll: true });
    stop.scrollIntoView({ block: "start" });
  }

  function moveTurn(delta) {
    const stops = $$("[data-turn]");
    if (!stops.length) return;
    let index = stops.indexOf(currentStop());
    if (index === -1) index = delta > 0 ? 0 : stops.length - 1;
    else index = Math.min(stops.length - 1, Math.max(0, index + delta));
    goToStop(stops[index]);
  }

  function focusNextQuestion(field) {
    const fields = $$("#annotation-form .field");
    const next = fields[fields.indexOf(field) + 1];
    if (!next) {
      document.getElementById("submit-button").focus();
      return;
    }
    const stop = closest(next, "[data-turn]");
    focusQuestion(next);
    if (stop !== closest(field, "[data-turn]")) stop.scrollIntoView({ block: "start" });
    else next.scrollIntoView({ block: "nearest" });
  }

  function answerByHotkey(field, key) {
    const wanted = key.toLowerCase();
    const input = $$("input[data-hotkey]", field).find(function (el) {
      return el.dataset.hotkey.toLowerCase() === wanted;
    });
    if (!input) return false;
    if (input.type === "checkbox") {
      input.click();
      input.focus({ preventScroll: true });
    } else {
      if (!input.checked) input.click();
      focusNextQuestion(field);
    }
    return true;
  }

  document.addEventListener("focusin", function (event) {
    const stop = closest(event.target, "[data-turn]");
    if (stop) setCurrent(stop);
    const evidence = closest(event.target, ".field-evidence");
    if (evidence) setEvidenceTarget(evidence);
  });

  // --- Menus, the shortcut sheet, submitting ---------------------------------------------------
  function openMenu(selector, focusSelector) {
    const menu = $(selector);
    if (!menu) return;
    $$("details[open].skip-menu, details[open].flag-menu").forEach(function (other) {
      if (other !== menu) other.open = false;
    });
    menu.open = true;
    const target = $(focusSelector, menu);
    if (target) target.focus();
  }

  function closeMenus() {
    const open = $$("details[open].skip-menu, details[open].flag-menu");
    open.forEach(function (menu) { menu.open = false; });
    if (open.length) $("summary", open[0]).focus();
    return open.length > 0;
  }

  function openShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    if (closest(event.target, "#shortcuts-button")) openShortcuts();
  });

  function toggleGuidelines() {
    const guidelines = document.getElementById("guidelines");
    if (!guidelines) return;
    guidelines.open = !guidelines.open;
    if (guidelines.open) {
      $("summary", guidelines).focus({ preventScroll: true });
      guidelines.scrollIntoView({ block: "nearest" });
    }
  }

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    if (el.tagName !== "INPUT") return false;
    return !["radio", "checkbox", "button", "submit", "reset", "hidden", "range", "color", "file"]
      .includes(el.type);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    const form = theForm();
    const target = event.target;
    const key = event.key;

    if (key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const menuForm = closest(target, ".menu-form");
      if (menuForm) {
        event.preventDefault();
        menuForm.requestSubmit();
      } else if (form) {
        event.preventDefault();
        document.getElementById("submit-button").click();
      }
      return;
    }
    if (key === "Escape") {
      if (document.getElementById("shortcuts") && document.getElementById("shortcuts").open) return;
      if (pending) {
        clearPending(true);
        event.preventDefault();
      } else if (closeMenus()) {
        event.preventDefault();
      } else if (isTyping(target) && closest(target, "#annotation-form .field")) {
        closest(target, ".field").focus(); // leave the text box; keys work again
        event.preventDefault();
      }
      return;
    }
    if (!form || isTyping(target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (closest(target, ".menu-form, dialog[open]")) return;

    if (pending && VERDICT_KEYS[key]) {
      event.preventDefault();
      addPassage(VERDICT_KEYS[key]);
      return;
    }
    const field = closest(target, "#annotation-form .field");
    if (field && key.length === 1 && answerByHotkey(field, key)) {
      event.preventDefault();
      return;
    }
    if (field && key === "Enter" && !event.shiftKey && (target === field || target.type === "radio" || target.type === "checkbox")) {
      event.preventDefault(); // not an implicit submit: on to the next question
      focusNextQuestion(field);
      return;
    }
    const native = target.type === "radio" || closest(target, ".sources, .guidelines");
    switch (key) {
      case "j": moveTurn(1); break;
      case "k": moveTurn(-1); break;
      case "ArrowDown": if (native) return; moveTurn(1); break;
      case "ArrowUp": if (native) return; moveTurn(-1); break;
      case "?": openShortcuts(); break;
      case "s": openMenu(".skip-menu", "#skip-reason"); break;
      case "f": openMenu(".flag-menu", "#flag-form input[name=kind]"); break;
      case "g": toggleGuidelines(); break;
      case "r": setAllRaw(!document.getElementById("raw-toggle").checked); break;
      case "o": {
        const stop = currentStop();
        const more = stop && $("[data-show-all]", stop);
        if (!more) return;
        toggleLong(more);
        break;
      }
      default: return;
    }
    event.preventDefault();
  });

  // --- Evidence: passages of the sources --------------------------------------------------------
  let sourceTexts = {};
  let evidenceTarget = null;
  let pending = null; // {source, start, end, quote}: a selection waiting for its verdict

  function setEvidenceTarget(field) {
    if (evidenceTarget === field) return;
    $$(".field-evidence.is-target").forEach(function (el) { el.classList.remove("is-target"); });
    evidenceTarget = field;
    if (field) field.classList.add("is-target");
    updatePicker();
  }

  function currentEvidenceField() {
    if (evidenceTarget && document.contains(evidenceTarget)) return evidenceTarget;
    const stop = currentStop();
    return (stop && $(".field-evidence", stop)) || $(".field-evidence");
  }

  function describeField(field) {
    const turn = closest(field, "[data-turn]");
    const prompt = $("legend", field);
    return (turn ? turn.dataset.turn + ": " : "") +
      (prompt ? prompt.textContent.replace(/\s+/g, " ").replace(/\*$/, "").trim() : "");
  }

  // Offsets in the page's text are UTF-16 units after the HTML parser turned CRLF into LF;
  // the server counts code points of the original text.
  function rawUnits(raw, domOffset) {
    if (raw.indexOf("\r") === -1) return domOffset;
    let dom = 0;
    for (let i = 0; i < raw.length; i += 1) {
      if (dom === domOffset) return i;
      if (raw[i] === "\r" && raw[i + 1] === "\n") continue;
      dom += 1;
    }
    return raw.length;
  }

  function codePoints(raw, units) { return Array.from(raw.slice(0, units)).length; }

  function readSelection() {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0).cloneRange();
    const el = closest(range.startContainer, ".source-text");
    if (!el) return null;
    if (!el.contains(range.endContainer)) range.setEnd(el, el.childNodes.length);
    const before = document.createRange();
    before.selectNodeContents(el);
    before.setEnd(range.startContainer, range.startOffset);
    const raw = sourceTexts[el.dataset.source];
    if (typeof raw !== "string") return null;
    const domStart = before.toString().length;
    const startUnits = rawUnits(raw, domStart);
    const endUnits = rawUnits(raw, domStart + range.toString().length);
    if (endUnits <= startUnits) return null;
    return {
      source: el.dataset.source,
      title: el.dataset.title,
      start: codePoints(raw, startUnits),
      end: codePoints(raw, endUnits),
      quote: raw.slice(startUnits, endUnits),
    };
  }

  function updatePicker() {
    const picker = document.getElementById("passage-picker");
    if (!picker) return;
    picker.hidden = !pending;
    if (!pending) return;
    const quote = pending.quote.replace(/\s+/g, " ").trim();
    document.getElementById("picker-quote").textContent =
      quote.length > 160 ? quote.slice(0, 160) + "…" : quote;
    const field = currentEvidenceField();
    document.getElementById("picker-target").textContent = field
      ? "as evidence for " + describeField(field)
      : "(no evidence question to cite it for)";
    $$("[data-verdict]", picker).forEach(function (button) { button.disabled = !field; });
  }

  function clearPending(clearSelection) {
    const picker = document.getElementById("passage-picker");
    const hadFocus = picker && picker.contains(document.activeElement);
    pending = null;
    if (clearSelection && window.getSelection()) window.getSelection().removeAllRanges();
    updatePicker();
    if (hadFocus) {
      const field = currentEvidenceField();
      if (field) field.focus({ preventScroll: true });
    }
  }

  function checkSelection() {
    const picker = document.getElementById("passage-picker");
    if (!picker) return;
    const found = readSelection();
    if (found) {
      pending = found;
      updatePicker();
    } else if (pending && !picker.contains(document.activeElement)) {
      const selection = window.getSelection();
      if (!selection || selection.isCollapsed) clearPending(false);
    }
  }

  let selectionTimer = null;
  document.addEventListener("selectionchange", function () {
    clearTimeout(selectionTimer);
    selectionTimer = setTimeout(checkSelection, 120);
  });
  document.addEventListener("mouseup", function (event) {
    if (closest(event.target, ".source-text")) setTimeout(checkSelection, 0);
  });

  function passageItem(passage) {
    const item = document.createElement("li");
    item.className = "passage verdict-" + passage.verdict;
    item.dataset.source = passage.source;
    item.dataset.start = passage.start;
    item.dataset.end = passage.end;
    item.dataset.verdict = passage.verdict;
    const badge = document.createElement("span");
    badge.className = "verdict-badge";
    badge.textContent = passage.verdict.charAt(0).toUpperCase() + passage.verdict.slice(1);
    const quote = document.createElement("q");
    quote.className = "passage-quote";
    quote.textContent = passage.quote.length > 240 ? passage.quote.slice(0, 239) + "…" : passage.quote;
    const where = document.createElement("span");
    where.className = "passage-source muted";
    where.textContent = passage.title + ", characters " + passage.start + "–" + passage.end;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link-button";
    remove.dataset.passageRemove = "";
    remove.innerHTML = 'Remove<span class="visually-hidden"> this passage</span>';
    item.append(badge, " ", quote, " ", where, " ", remove);
    return item;
  }

  // Cited passages are marked in their source, by verdict, with the CSS Custom Highlight API:
  // nothing is inserted into the text, so offsets and selections stay as they are. (Where the
  // API is missing, the passages are listed in their fields as before.)
  const VERDICTS = ["supported", "unsupported", "contradicted"];

  // The inverse of rawUnits and codePoints: a code point of the original text, as an offset
  // in the page's text node.
  function domOffset(raw, codePoint) {
    const units = Array.from(raw).slice(0, codePoint).join("").length;
    if (raw.indexOf("\r") === -1) return units;
    let dom = 0;
    for (let i = 0; i < units; i += 1) {
      if (!(raw[i] === "\r" && raw[i + 1] === "\n")) dom += 1;
    }
    return dom;
  }

  function passageRange(item) {
    const el = $$(".source-text").find(function (source) {
      return source.dataset.source === item.dataset.source;
    });
    const raw = el && sourceTexts[el.dataset.source];
    const text = el && el.firstChild;
    if (typeof raw !== "string" || !text || text.nodeType !== Node.TEXT_NODE) return null;
    const start = domOffset(raw, Number(item.dataset.start));
    const end = domOffset(raw, Number(item.dataset.end));
    if (!(end > start) || end > text.length) return null;
    const range = document.createRange();
    range.setStart(text, start);
    range.setEnd(text, end);
    return range;
  }

  function highlightPassages() {
    if (!window.CSS || !CSS.highlights || typeof Highlight !== "function") return;
    const marks = {};
    VERDICTS.forEach(function (verdict) { marks[verdict] = new Highlight(); });
    $$("[data-passages] > li").forEach(function (item) {
      const range = marks[item.dataset.verdict] && passageRange(item);
      if (range) marks[item.dataset.verdict].add(range);
    });
    VERDICTS.forEach(function (verdict) { CSS.highlights.set("cited-" + verdict, marks[verdict]); });
  }

  // The passages listed in the field are the answer; the hidden input carries them as JSON.
  function writeEvidence(field) {
    const passages = $$("[data-passages] > li", field).map(function (item) {
      return {
        source: item.dataset.source,
        start: Number(item.dataset.start),
        end: Number(item.dataset.end),
        verdict: item.dataset.verdict,
      };
    });
    const input = $("[data-evidence-value]", field);
    input.value = passages.length ? JSON.stringify(passages) : "";
    highlightPassages();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function addPassage(verdict) {
    const field = currentEvidenceField();
    if (!field || !pending) return;
    const list = $("[data-passages]", field);
    const same = $$("li", list).find(function (item) {
      return item.dataset.source === pending.source &&
        Number(item.dataset.start) === pending.start && Number(item.dataset.end) === pending.end;
    });
    const item = passageItem(Object.assign({}, pending, { verdict: verdict }));
    if (same) same.replaceWith(item);
    else list.append(item);
    writeEvidence(field);
    clearPending(true);
  }

  document.addEventListener("click", function (event) {
    const verdict = closest(event.target, "#passage-picker [data-verdict]");
    if (verdict) {
      addPassage(verdict.dataset.verdict);
      return;
    }
    if (closest(event.target, "[data-picker-cancel]")) {
      clearPending(true);
      return;
    }
    const remove = closest(event.target, "[data-passage-remove]");
    if (remove) {
      const field = closest(remove, ".field");
      closest(remove, "li").remove();
      writeEvidence(field);
      field.focus({ preventScroll: true });
      return;
    }
    const cite = closest(event.target, "[data-evidence-cite]");
    if (cite) {
      setEvidenceTarget(closest(cite, ".field"));
      const find = $("[data-source-find]");
      if (find) find.focus();
    }
  });

  // Keep the selection when a verdict button is pressed with the mouse.
  document.addEventListener("mousedown", function (event) {
    if (closest(event.target, "#passage-picker button")) event.preventDefault();
  });

  function textPosition(root, offset) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let node = walker.nextNode();
    let seen = 0;
    while (node) {
      if (seen + node.data.length >= offset) return [node, offset - seen];
      seen += node.data.length;
      node = walker.nextNode();
    }
    return [root, root.childNodes.length];
  }

  // Find: select the next match of the words typed, as if selected with the mouse.
  function findInSource(input) {
    const words = input.value.trim();
    const el = $$(".source-text").find(function (item) {
      return item.dataset.source === input.dataset.sourceFind;
    });
    if (!words || !el) return;
    const text = el.textContent.toLowerCase();
    const from = pending && pending.source === el.dataset.source && input.dataset.lastFind === words
      ? Number(input.dataset.lastAt) + 1 : 0;
    let at = text.indexOf(words.toLowerCase(), from);
    if (at === -1 && from > 0) at = text.indexOf(words.toLowerCase());
    input.setAttribute("aria-invalid", String(at === -1));
    if (at === -1) return;
    input.dataset.lastFind = words;
    input.dataset.lastAt = at;
    const range = document.createRange();
    const start = textPosition(el, at);
    const end = textPosition(el, at + words.length);
    range.setStart(start[0], start[1]);
    range.setEnd(end[0], end[1]);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    const box = range.getBoundingClientRect();
    const aside = closest(el, ".sources");
    if (aside && aside.scrollHeight > aside.clientHeight) {
      aside.scrollTop += box.top - aside.getBoundingClientRect().top - aside.clientHeight / 3;
    } else {
      el.scrollIntoView({ block: "nearest" });
    }
    checkSelection();
    const first = $("#passage-picker [data-verdict]:not([disabled])");
    if (first) first.focus();
  }

  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (event.key !== "Enter" || !input.matches || !input.matches("[data-source-find]")) return;
    event.preventDefault();
    findInSource(input);
  });

  // --- Start (again, for each task htmx swaps in) --------------------------------------------------
  function init() {
    const form = theForm();
    const fresh = !form || form.dataset.task !== state.task;
    if (!fresh) return;
    const swapped = state.task !== undefined;
    resetState(form);
    current = null;
    evidenceTarget = null;
    pending = null;
    startClock();
    if (!form) return;
    const data = document.getElementById("source-texts");
    sourceTexts = data ? JSON.parse(data.textContent) : {};
    highlightPassages();
    $$("textarea[data-original]").forEach(renderDiff);
    let raw = false;
    try { raw = Boolean(localStorage.getItem(RAW_PREFERENCE)); } catch (e) { /* private mode */ }
    if (raw) setAllRaw(true);
    $$(".md a[href]").forEach(function (link) {
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
    });
    if (swapped) window.scrollTo(0, 0);
  }

  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
