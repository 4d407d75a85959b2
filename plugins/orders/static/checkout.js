// The checkout form: card checks as the shopper types (the same rules and words as the server's), and
// one submit only. Without JavaScript the form still works: the server checks everything and answers
// with the same messages next to the fields. Every text comes from the page (data-* attributes written
// in the reader's language by checkout.html): none is written here.
(function () {
  "use strict";
  var form = document.getElementById("checkout-form");
  if (!form) { return; }
  var button = document.getElementById("place-order");
  var note = document.getElementById("place-order-note");
  var label = button ? button.textContent : "";
  var MAX_YEARS_AHEAD = 25;

  function msg(name) { return form.dataset[name] || ""; }  // data-msg-* of the form, translated

  function digits(value, separators) {
    var text = value.trim();
    if (separators) { text = text.replace(/[ -]/g, ""); }
    return /^[0-9]+$/.test(text) ? text : null;
  }

  function luhn(number) {
    var total = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number.charAt(number.length - 1 - i));
      if (i % 2) { d = d > 4 ? d * 2 - 9 : d * 2; }
      total += d;
    }
    return total % 10 === 0;
  }

  function isAmex(number) { return /^3[47]/.test(number || ""); }

  function field(name) { return form.elements.namedItem(name); }

  function expiry() {
    var monthText = digits(field("exp_month").value), yearText = digits(field("exp_year").value);
    var month = monthText && monthText.length <= 2 ? Number(monthText) : 0;
    var year = yearText && (yearText.length === 2 || yearText.length === 4) ? Number(yearText) : 0;
    if (year && yearText.length === 2) { year += 2000; }
    return {month: month, year: year};
  }

  // Each returns the message to show, or "" when the value is fine.
  var CHECKS = {
    card_number: function () {
      var number = digits(field("card_number").value, true);
      if (number === null) { return msg("msgNumber"); }
      if (number.length < 12 || number.length > 19) { return msg("msgNumberLength"); }
      if (!luhn(number)) { return msg("msgLuhn"); }
      return "";
    },
    exp_month: function () {
      var e = expiry(), now = new Date();
      if (e.month < 1 || e.month > 12) { return msg("msgMonth"); }
      if (e.year === now.getUTCFullYear() && e.month < now.getUTCMonth() + 1) { return msg("msgExpired"); }
      return "";
    },
    exp_year: function () {
      var e = expiry(), thisYear = new Date().getUTCFullYear();
      if (!(e.year > thisYear - 100 && e.year <= thisYear + MAX_YEARS_AHEAD)) { return msg("msgYear"); }
      if (e.year < thisYear) { return msg("msgExpired"); }
      return "";
    },
    cvc: function () {
      var cvc = digits(field("cvc").value);
      if (cvc === null || cvc.length < 3 || cvc.length > 4) { return msg("msgCvc"); }
      if (isAmex(digits(field("card_number").value, true)) && cvc.length !== 4) {
        return msg("msgAmex");
      }
      return "";
    }
  };
  var ORDER = ["card_number", "exp_month", "exp_year", "cvc"];
  var touched = {};

  function show(name, message) {
    var input = field(name);
    var id = name + "-error";
    var box = document.getElementById(id);
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (x) {
      return x && x !== id;
    });
    if (message) {
      if (!box) {
        box = document.createElement("div");
        box.id = id;
        box.className = "invalid-feedback";
        input.insertAdjacentElement("afterend", box);
      }
      box.textContent = message;
      input.classList.add("is-invalid");
      input.setAttribute("aria-invalid", "true");
      described.unshift(id);
    } else {
      if (box) { box.remove(); }
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-invalid");
    }
    if (described.length) { input.setAttribute("aria-describedby", described.join(" ")); }
    else { input.removeAttribute("aria-describedby"); }
  }

  function check(name) {
    var message = CHECKS[name]();
    show(name, message);
    return message;
  }

  function related(name) {  // the expiry fields and the CVC depend on each other
    if (name === "exp_month" && touched.exp_year) { check("exp_year"); }
    if (name === "exp_year" && touched.exp_month) { check("exp_month"); }
    if (name === "card_number" && touched.cvc) { check("cvc"); }
  }

  ORDER.forEach(function (name) {
    var input = field(name);
    if (!input) { return; }
    if (input.getAttribute("aria-invalid") === "true") { touched[name] = true; }  // the server's error stays until fixed
    input.addEventListener("input", function () {
      var number = name === "card_number" ? digits(input.value, true) : null;
      // as the shopper types: once the field was left, while it shows an error, or once a card number is complete
      if (touched[name] || (number && number.length >= (isAmex(number) ? 15 : 16))) {
        touched[name] = true;
        check(name);
        related(name);
      }
    });
    input.addEventListener("blur", function () {
      if (input.value.trim() === "" && !touched[name]) { return; }  // tabbing through is not a mistake
      touched[name] = true;
      check(name);
      related(name);
    });
  });

  var submitting = false;
  form.addEventListener("submit", function (event) {
    if (submitting) { event.preventDefault(); return; }
    if (event.submitter && event.submitter.value === "apply") { return; }  // a price update needs no card
    var first = null;
    ORDER.forEach(function (name) {
      touched[name] = true;
      if (check(name) && !first) { first = field(name); }
    });
    if (first) {
      event.preventDefault();
      first.focus();
      if (note) { note.textContent = note.dataset.fixText || ""; }
      return;
    }
    submitting = true;
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.textContent = button.dataset.busyText || label;
    }
    if (note) { note.textContent = note.dataset.waitText || ""; }
  });

  // Back from the order page (the browser may restore this page as it was): allow a new submit.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && button) {
      submitting = false;
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = label;
    }
  });

  var problem = document.getElementById("checkout-problem");
  if (problem && problem.tabIndex === -1) { problem.focus(); }
})();
