// The order page's live status: server-sent events from /api/v1/orders/{id}/events (same origin, the
// session cookie authenticates). Without JavaScript the page still shows the status on reload.
// Every text comes from the page (the #order-texts JSON block, in the reader's language) or from the
// server's frames (reason_text, failure_text, at_text: translated and formatted for the reader).
(function () {
  "use strict";
  var root = document.getElementById("order");
  if (!root || !root.dataset.eventsUrl || !window.EventSource) { return; }
  var TEXTS = {};
  try { TEXTS = JSON.parse(document.getElementById("order-texts").textContent); } catch (e) { TEXTS = {}; }
  var LABELS = TEXTS.labels || {};
  var BADGES = {pending_payment: "text-bg-warning", paid: "text-bg-success", payment_failed: "text-bg-danger",
                expired: "text-bg-secondary", cancelled: "text-bg-secondary", fulfilled: "text-bg-info",
                shipped: "text-bg-primary", delivered: "text-bg-success", partially_shipped: "text-bg-primary",
                partially_delivered: "text-bg-success", partially_refunded: "text-bg-secondary",
                refunded: "text-bg-secondary"};
  // The server marks the last frame of a stream ``final`` (a partially refunded order ends once none of
  // its shipments can move); these statuses are final whatever it says.
  var FINAL = ["payment_failed", "expired", "cancelled", "delivered", "refunded"];
  var CANCELLABLE = ["pending_payment", "paid"];
  var REACHED = {pending_payment: 1, paid: 2, fulfilled: 3, partially_shipped: 3, shipped: 4,
                 partially_delivered: 4, delivered: 5};
  var STOPPED = ["payment_failed", "expired", "cancelled", "refunded"];
  var NOTES = {pending_payment: "order-pending-note", paid: "order-paid-note", payment_failed: "order-failed-note",
               expired: "order-expired-note", cancelled: "order-cancelled-note"};

  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge " + (BADGES[status] || "text-bg-light");
    span.dataset.status = status;
    span.textContent = LABELS[status] || status;
    return span;
  }


  function showSteps(status) {
    var steps = document.getElementById("order-steps");
    if (!steps) { return; }
    if (status === "paid") { steps.dataset.paid = "1"; }
    var stopped = STOPPED.indexOf(status) >= 0 ? (LABELS[status] || status) : "";
    var reached = status in REACHED ? REACHED[status] : (steps.dataset.paid === "1" ? 2 : 1);
    Array.prototype.forEach.call(steps.querySelectorAll("li"), function (li, i) {
      var cls = i < reached ? "done" : i === reached ? (stopped ? "failed" : "now") : "";
      li.className = cls;
      li.textContent = cls === "failed" ? stopped : li.dataset.label;
      if (cls === "now" || cls === "done") {
        var hint = document.createElement("span");
        hint.className = "visually-hidden";
        hint.textContent = " " + (cls === "now" ? TEXTS.next || "" : TEXTS.done || "");
        li.appendChild(hint);
      }
    });
  }

  function showNotes(change) {
    Object.keys(NOTES).forEach(function (status) {
      var note = document.getElementById(NOTES[status]);
      if (note) { note.hidden = status !== change.status; }
    });
    if (change.status === "payment_failed") {
      var reason = document.getElementById("order-failed-reason");
      var text = change.failure_text || change.reason_text || "";
      if (reason && text) { reason.textContent = text; }
    }
  }

  function addToTimeline(change) {
    var timeline = document.getElementById("order-timeline");
    if (!timeline) { return; }
    var item = document.createElement("li");
    var line = document.createElement("div");
    line.appendChild(badge(change.status));
    if (change.at) {
      var when = document.createElement("time");
      when.className = "small";
      when.dateTime = change.at;
      when.textContent = " " + (change.at_text || change.at);
      line.appendChild(when);
    }
    var why = document.createElement("small");
    why.className = "text-body-secondary";
    why.textContent = (change.reason_text || change.reason || "") + (change.actor && root.dataset.showActor ? " · " + change.actor : "");
    item.appendChild(line);
    item.appendChild(why);
    timeline.appendChild(item);
  }

  function show(change) {
    var current = document.getElementById("order-status");
    if (!current || current.dataset.status === change.status) { return; }
    var fresh = badge(change.status);
    fresh.id = "order-status";
    current.replaceWith(fresh);
    root.dataset.status = change.status;
    addToTimeline(change);
    showSteps(change.status);
    showNotes(change);
    var cancel = document.getElementById("order-cancel");
    if (cancel) {
      cancel.hidden = CANCELLABLE.indexOf(change.status) < 0;
      var button = cancel.querySelector("button");
      if (button && change.status === "paid" && TEXTS.cancel_refund) { button.textContent = TEXTS.cancel_refund; }
    }
    var again = document.getElementById("order-again");
    if (again && FINAL.indexOf(change.status) >= 0) { again.hidden = false; }
    if (STOPPED.indexOf(change.status) >= 0) {  // "Thank you, order placed" no longer fits: leave only the bad news
      Array.prototype.forEach.call(document.querySelectorAll("main > .alert-success"), function (flash) {
        flash.remove();
      });
    }
  }

  var source = new EventSource(root.dataset.eventsUrl);
  source.addEventListener("status", function (message) {
    var change;
    try { change = JSON.parse(message.data); } catch (e) { return; }
    show(change);
    if (change.final || FINAL.indexOf(change.status) >= 0) {
      source.close();
      var again = document.getElementById("order-again");
      if (again) { again.hidden = false; }
    }
  });
  source.onerror = function () {
    // The browser reconnects by itself; a closed stream after a final status is closed here.
    if (source.readyState === EventSource.CLOSED) { source.close(); }
  };
  window.addEventListener("pagehide", function () { source.close(); });
})();
