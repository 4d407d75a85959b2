// The order page's live status: server-sent events from /api/v1/orders/{id}/events (same origin, the
// session cookie authenticates). Without JavaScript the page still shows the status on reload.
(function () {
  "use strict";
  var root = document.getElementById("order");
  if (!root || !root.dataset.eventsUrl || !window.EventSource) { return; }
  var LABELS = {pending_payment: "Awaiting payment", paid: "Paid", payment_failed: "Payment failed",
                expired: "Expired", cancelled: "Cancelled", fulfilled: "Fulfilled", shipped: "Shipped",
                delivered: "Delivered"};
  var BADGES = {pending_payment: "text-bg-warning", paid: "text-bg-success", payment_failed: "text-bg-danger",
                expired: "text-bg-secondary", cancelled: "text-bg-secondary", fulfilled: "text-bg-info",
                shipped: "text-bg-primary", delivered: "text-bg-success"};
  var FINAL = ["payment_failed", "expired", "cancelled", "delivered"];
  var CANCELLABLE = ["pending_payment", "paid"];

  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge " + (BADGES[status] || "text-bg-light");
    span.dataset.status = status;
    span.textContent = LABELS[status] || status;
    return span;
  }

  function show(change) {
    var current = document.getElementById("order-status");
    if (!current || current.dataset.status === change.status) { return; }
    var fresh = badge(change.status);
    fresh.id = "order-status";
    current.replaceWith(fresh);
    var timeline = document.getElementById("order-timeline");
    if (timeline) {
      var item = document.createElement("li");
      item.className = "mb-2";
      var line = document.createElement("div");
      line.appendChild(badge(change.status));
      if (change.at) {
        var when = document.createElement("time");
        when.dateTime = change.at;  // shown like the server does: 2025-01-31 12:00:00 UTC
        when.textContent = " " + new Date(change.at).toISOString().slice(0, 19).replace("T", " ") + " UTC";
        line.appendChild(when);
      }
      var why = document.createElement("small");
      why.className = "text-body-secondary";
      why.textContent = (change.reason || "") + (change.actor ? " · " + change.actor : "");
      item.appendChild(line);
      item.appendChild(why);
      timeline.appendChild(item);
    }
    var note = document.getElementById("order-pending-note");
    if (note) { note.hidden = change.status !== "pending_payment"; }
    var cancel = document.getElementById("order-cancel");
    if (cancel && CANCELLABLE.indexOf(change.status) < 0) { cancel.hidden = true; }
  }

  var source = new EventSource(root.dataset.eventsUrl);
  source.addEventListener("status", function (message) {
    var change;
    try { change = JSON.parse(message.data); } catch (e) { return; }
    show(change);
    if (FINAL.indexOf(change.status) >= 0) { source.close(); }
  });
  source.onerror = function () {
    // The browser reconnects by itself; a closed stream after a final status is closed here.
    if (source.readyState === EventSource.CLOSED) { source.close(); }
  };
})();
