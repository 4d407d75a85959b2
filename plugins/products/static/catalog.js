// The catalog's filters start folded on narrow screens (they are a <details>, open without JavaScript).
(function () {
  "use strict";
  var filters = document.getElementById("filters");
  if (filters && window.matchMedia("(max-width: 991.98px)").matches) { filters.open = false; }
})();
