// The review pages' script (served as a file: the Content-Security-Policy forbids inline script).
// Keyboard: j/k move, o/Enter open, a approve, r reject (1-5 pick a reason, Enter confirms, Esc cancels),
// c claim, x select, ? help. Claims: on a comment page, starting a reject claims the comment; moving on
// (j/k, a link, closing the tab) releases a claim of mine. The queue polls for comments that arrived since.
(function () {
  "use strict";
  var csrf = function () {
    var m = document.querySelector("meta[name=csrf-token]");
    return m ? m.getAttribute("content") : "";
  };
  function formData(extra) {
    var fd = new FormData();
    fd.append("csrf_token", csrf());
    Object.keys(extra || {}).forEach(function (k) { fd.append(k, extra[k]); });
    return fd;
  }

  // ---------------------------------------------------------------- claims (comment page)
  var released = false;
  var submitting = false;
  function claimItem() { return document.querySelector("article[data-claim]"); }

  function claimNow(item) {
    if (!item || item.hasAttribute("data-claimed")) { return; }
    item.setAttribute("data-claimed", "");  // at most one request in flight
    fetch(item.getAttribute("data-claim"), { method: "POST", body: formData(), credentials: "same-origin",
                                              headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) {
          item.removeAttribute("data-claimed");
          showNote(item, res.body.error || "Could not claim this comment.");
          return;
        }
        // a claim bumps the item's version: the forms on this page must send the new one
        item.querySelectorAll("input[name=version]").forEach(function (v) { v.value = String(res.body.version); });
        var form = item.querySelector("form.claim-form");
        var button = form && form.querySelector("button");
        if (button) {  // the Claim button becomes Release, as after a claim by the button
          form.action = item.getAttribute("data-release");
          button.textContent = "Release";
          button.className = "link";
        }
        showNote(item, "Claimed by you while you decide; moving on releases it.", true);
      })
      .catch(function () { item.removeAttribute("data-claimed"); });
  }

  function showNote(item, text, ok) {
    var p = item.querySelector(".claim-note");
    if (!p) {
      p = document.createElement("p");
      p.className = "claim-note";
      p.setAttribute("role", "status");
      var header = item.querySelector("header");
      if (header && header.nextSibling) { item.insertBefore(p, header.nextSibling); } else { item.appendChild(p); }
    }
    p.className = "claim-note flash " + (ok ? "flash-ok" : "flash-error");
    p.textContent = text;
  }

  function releaseNow(useBeacon) {
    var item = claimItem();
    if (released || submitting || !item || !item.hasAttribute("data-claimed")) { return; }
    released = true;
    var url = item.getAttribute("data-release");
    if (useBeacon && navigator.sendBeacon) {
      navigator.sendBeacon(url, formData());
    } else {
      fetch(url, { method: "POST", body: formData(), credentials: "same-origin", keepalive: true });
    }
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    // a bulk reject needs a reason: say so here and keep the selection (no round trip)
    if (form.id === "bulk" && e.submitter && e.submitter.value === "reject") {
      var reason = form.querySelector("select[name=reason]");
      if (reason && !reason.value) {
        e.preventDefault();
        var err = form.querySelector(".bulk-error");
        if (!err) {
          err = document.createElement("span");
          err.className = "bulk-error flash-error";
          err.setAttribute("role", "alert");
          form.appendChild(err);
        }
        err.textContent = "Choose a reason to reject.";
        reason.focus();
        return;
      }
    }
    submitting = true;  // a decision or claim form: the server settles the claim, no release on pagehide
  });
  window.addEventListener("pagehide", function () { releaseNow(true); });
  window.addEventListener("pageshow", function (e) { if (e.persisted) { released = false; submitting = false; } });
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (d && d.matches && d.matches("details.reject") && d.open) { claimNow(d.closest("article[data-claim]")); }
  }, true);

  // ---------------------------------------------------------------- new items (queue page)
  function poll() {
    var live = document.getElementById("live");
    if (!live) { return; }
    var every = parseInt(live.getAttribute("data-interval") || "5000", 10);
    var tick = function () {
      if (document.hidden) { return; }
      var url = live.getAttribute("data-poll");
      url += (url.indexOf("?") >= 0 ? "&" : "?") + "after=" + encodeURIComponent(live.getAttribute("data-after"));
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) { return; }
          var count = document.querySelector("header.top .count");
          if (count && typeof body.pending === "number") { count.textContent = String(body.pending); }
          if (body.count > 0) {
            live.querySelector(".live-count").textContent =
              body.count + " new comment" + (body.count === 1 ? "" : "s") + " since this page loaded —";
            live.hidden = false;
          }
        })
        .catch(function () { /* offline for a moment: the next tick tries again */ });
    };
    window.setInterval(tick, every);
  }
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
    if (a) { releaseNow(false); window.location.href = a.href; }
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
      case "c": {
        var claimForm = document.querySelector("form.claim-form[action$='/claim']");
        if (claimForm) { e.preventDefault(); claimForm.requestSubmit(); }
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
    poll();
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
