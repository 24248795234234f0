// Starts Swagger UI or ReDoc on the docs page (scripts served by this server; no inline script).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("docs");
  var spec = root.getAttribute("data-spec");
  if (root.getAttribute("data-ui") === "redoc") {
    window.Redoc.init(spec, {}, root);
  } else {
    window.SwaggerUIBundle({url: spec, domNode: root, deepLinking: true});
  }
});
