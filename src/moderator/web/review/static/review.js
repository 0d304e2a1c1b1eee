// Keyboard shortcuts for the review pages (served as a file: the Content-Security-Policy forbids inline script).
// j/k move, o/Enter open, a approve, r reject (1-5 pick a reason, Enter confirms, Esc cancels), x select, ? help.
(function () {
  "use strict";
  var items = function () { return Array.prototype.slice.call(document.querySelectorAll("[data-item]")); };
  var current = -1;

  function focusItem(i) {
    var list = items();
    if (!list.length) { return; }
    i = Math.max(0, Math.min(list.length - 1, i));
    if (list[current]) { list[current].classList.remove("current"); }
    current = i;
    list[i].classList.add("current");
    list[i].focus({ preventScroll: true });
    list[i].scrollIntoView({ block: "nearest" });
  }

  function currentItem() { return items()[current] || null; }

  function openReject(item) {
    var d = item && item.querySelector("details.reject");
    if (!d) { return; }
    d.open = true;
    var first = d.querySelector("input[name=reason]:checked") || d.querySelector("input[name=reason]");
    if (first) { first.focus(); }
  }

  function updateSelected() {
    var n = document.querySelectorAll("input.pick:checked").length;
    var out = document.querySelector(".selected-count");
    if (out) { out.textContent = String(n); }
  }

  function follow(rel) {
    var a = document.querySelector("a[rel=" + rel + "]");
    if (a) { window.location.href = a.href; }
  }

  function isTyping(el) {
    if (!el || !el.tagName) { return false; }
    var tag = el.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") { return true; }
    if (tag !== "input") { return false; }
    var type = (el.getAttribute("type") || "text").toLowerCase();
    return ["text", "password", "search", "email", "number", "url"].indexOf(type) >= 0;
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t = e.target;
    var help = document.getElementById("help");
    if (help && help.open) { return; }  // the dialog handles Esc itself

    var panel = t && t.closest ? t.closest("details.reject[open]") : null;
    if (panel) {
      if (e.key === "Escape") {
        e.preventDefault();
        panel.open = false;
        var it = panel.closest("[data-item]");
        if (it) { it.focus(); }
        return;
      }
      if (!isTyping(t) && /^[1-9]$/.test(e.key)) {
        var radios = panel.querySelectorAll("input[name=reason]");
        var r = radios[parseInt(e.key, 10) - 1];
        if (r) { e.preventDefault(); r.checked = true; r.focus(); }
        return;
      }
      if (e.key === "Enter" && t.type !== "submit") {
        e.preventDefault();
        var form = panel.querySelector("form");
        if (form) { form.requestSubmit(); }
        return;
      }
      return;
    }
    if (isTyping(t)) { return; }

    var page = document.body.getAttribute("data-page");
    switch (e.key) {
      case "j":
        e.preventDefault();
        if (page === "comment") { follow("next"); } else { focusItem(current + 1); }
        break;
      case "k":
        e.preventDefault();
        if (page === "comment") { follow("prev"); } else { focusItem(current - 1); }
        break;
      case "a": {
        var item = currentItem();
        var approve = item && item.querySelector("form.approve");
        if (approve) { e.preventDefault(); approve.requestSubmit(); }
        break;
      }
      case "r":
        if (currentItem()) { e.preventDefault(); openReject(currentItem()); }
        break;
      case "x": {
        var pick = currentItem() && currentItem().querySelector("input.pick");
        if (pick) { e.preventDefault(); pick.checked = !pick.checked; updateSelected(); }
        break;
      }
      case "o":
      case "Enter": {
        var cur = currentItem();
        if (cur && cur.getAttribute("data-url") && t === cur) {
          e.preventDefault();
          window.location.href = cur.getAttribute("data-url");
        }
        break;
      }
      case "?":
        if (help && help.showModal) { e.preventDefault(); help.showModal(); }
        break;
      default:
        break;
    }
  });

  document.addEventListener("change", function (e) {
    if (e.target && e.target.classList && e.target.classList.contains("pick")) { updateSelected(); }
  });

  document.addEventListener("click", function (e) {
    var opener = e.target && e.target.closest ? e.target.closest(".help-open") : null;
    var help = document.getElementById("help");
    if (opener && help && help.showModal) { help.showModal(); return; }
    var item = e.target && e.target.closest ? e.target.closest("[data-item]") : null;
    if (item) {
      var i = items().indexOf(item);
      if (i >= 0 && i !== current) {
        var list = items();
        if (list[current]) { list[current].classList.remove("current"); }
        current = i;
        item.classList.add("current");
      }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var list = items();
    if (!list.length) { return; }
    var start = 0;
    if (window.location.hash) {
      var target = document.getElementById(window.location.hash.slice(1));
      var i = list.indexOf(target);
      if (i >= 0) { start = i; }
    }
    focusItem(start);
    updateSelected();
  });
}());
