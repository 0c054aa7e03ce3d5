/* KJDA: the few behaviours CSS alone cannot give a phone, as a file because the page's
   Content-Security-Policy allows scripts from 'self' only (no inline script, no eval).
   Loaded synchronously in <head>: marking <html class="js"> before the body is parsed lets the
   stylesheet collapse the navigation without a flash; everything else waits for the DOM.
   Without JavaScript every page still works: the navigation wraps, nothing is folded. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var NARROW = "(max-width: 640px)";

  /* Tables become cards on phones (kjda.css); each cell shows its column's heading, copied here
     from the <thead> into data-label, so any plain table gets it without template work. */
  function labelTable(table) {
    var head = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!head) { return; }
    var labels = [];
    Array.prototype.forEach.call(head.cells, function (th) {
      var text = (th.getAttribute("data-label") || th.textContent || "").replace(/\s+/g, " ").trim();
      for (var i = 0; i < (th.colSpan || 1); i++) { labels.push(text); }
    });
    var bodies = Array.prototype.slice.call(table.tBodies);
    if (table.tFoot) { bodies.push(table.tFoot); }
    bodies.forEach(function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          var label = (cell.colSpan || 1) === 1 ? labels[col] : "";
          if (label && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", label); }
          col += cell.colSpan || 1;
        });
      });
    });
  }

  function labelTables(scope) {
    var tables = (scope || document).querySelectorAll("main table");
    Array.prototype.forEach.call(tables, labelTable);
    if (scope && scope.closest) {
      var own = scope.closest("main table");
      if (own) { labelTable(own); }
    }
  }

  /* The navigation's menu button (shown by kjda.css only where the bar is too narrow). */
  function menu() {
    var bar = document.querySelector(".topbar");
    var button = bar && bar.querySelector(".menu-toggle");
    if (!button) { return; }
    function set(open) {
      bar.classList.toggle("open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function () { set(!bar.classList.contains("open")); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && bar.classList.contains("open")) { set(false); button.focus(); }
    });
  }

  /* Open every folded <details> around the element a #link points at, and its own fold. */
  function reveal(el) {
    for (var node = el; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
    Array.prototype.forEach.call(el.children, function (child) {
      if (child.tagName === "DETAILS" && child.classList.contains("fold")) { child.open = true; }
    });
  }

  function revealHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target) { reveal(target); }
  }

  /* Long pages (the record page) fold their secondary sections on a phone: rendered open, for
     a desktop and for browsers without JavaScript, and closed here. */
  function fold() {
    if (!window.matchMedia || !window.matchMedia(NARROW).matches) { return; }
    var folds = document.querySelectorAll("details.fold[open]");
    Array.prototype.forEach.call(folds, function (d) { d.open = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    labelTables(document);
    menu();
    fold();
    revealHash();
    document.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest("a[href^='#']");
      var id = link && decodeURIComponent(link.getAttribute("href").slice(1));
      var target = id && document.getElementById(id);
      if (target) { reveal(target); }
    });
  });
  window.addEventListener("hashchange", revealHash);
  /* htmx swaps in new rows (the record search): label them too. */
  document.addEventListener("htmx:afterSettle", function (e) { labelTables(e.target); });
}());
