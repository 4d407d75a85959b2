// The order page's live status: server-sent events from /api/v1/orders/{id}/events (same origin, the
// session cookie authenticates). Without JavaScript the page still shows the status on reload.
(function () {
  "use strict";
  var root = document.getElementById("order");
  if (!root || !root.dataset.eventsUrl || !window.EventSource) { return; }
  var LABELS = {pending_payment: "Awaiting payment", paid: "Paid", payment_failed: "Payment failed",
                expired: "Expired", cancelled: "Cancelled", fulfilled: "Fulfilled", shipped: "Shipped",
                delivered: "Delivered", partially_shipped: "Partially shipped",
                partially_delivered: "Partially delivered", partially_refunded: "Partially refunded",
                refunded: "Refunded"};
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
  var STOPPED = {payment_failed: "Payment failed", expired: "Expired", cancelled: "Cancelled", refunded: "Refunded"};
  var NOTES = {pending_payment: "order-pending-note", paid: "order-paid-note", payment_failed: "order-failed-note",
               expired: "order-expired-note", cancelled: "order-cancelled-note"};
  var FAILED_PREFIX = "Payment failed: ";

  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge " + (BADGES[status] || "text-bg-light");
    span.dataset.status = status;
    span.textContent = LABELS[status] || status;
    return span;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function utc(iso) {  // the same format as the page's own times: 2026-01-31 14:05:09 UTC
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ""; }
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }

  function showSteps(status) {
    var steps = document.getElementById("order-steps");
    if (!steps) { return; }
    if (status === "paid") { steps.dataset.paid = "1"; }
    var stopped = STOPPED[status];
    var reached = status in REACHED ? REACHED[status] : (steps.dataset.paid === "1" ? 2 : 1);
    Array.prototype.forEach.call(steps.querySelectorAll("li"), function (li, i) {
      var cls = i < reached ? "done" : i === reached ? (stopped ? "failed" : "now") : "";
      li.className = cls;
      li.textContent = cls === "failed" ? stopped : li.dataset.label;
      if (cls === "now" || cls === "done") {
        var hint = document.createElement("span");
        hint.className = "visually-hidden";
        hint.textContent = cls === "now" ? " (next)" : " (done)";
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
      var text = change.reason || "";
      if (reason && text) {
        reason.textContent = text.indexOf(FAILED_PREFIX) === 0 ? text.slice(FAILED_PREFIX.length) : text;
      }
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
      when.textContent = " " + utc(change.at);
      line.appendChild(when);
    }
    var why = document.createElement("small");
    why.className = "text-body-secondary";
    why.textContent = (change.reason || "") + (change.actor && root.dataset.showActor ? " · " + change.actor : "");
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
      if (button && change.status === "paid") { button.textContent = "Cancel order and refund"; }
    }
    var again = document.getElementById("order-again");
    if (again && FINAL.indexOf(change.status) >= 0) { again.hidden = false; }
    if (STOPPED[change.status]) {  // "Thank you, order placed" no longer fits: leave only the bad news
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
