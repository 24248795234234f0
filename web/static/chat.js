// newsqa chat: posts the form to /chat/turn and appends the reply the server renders (the same
// template as the page without JavaScript, from the same JSON as /ask). No framework; the only
// markup that enters the page is the server's escaped fragment, parsed by DOMParser.
"use strict";

(function () {
  var CJK = /[\u3400-\u9fff\uf900-\ufaff]/;
  var GAP = 12; // px kept between a reply and the input bar

  // "en" for a question in English (Latin letters, no Chinese), else "zh"; as pages.language does.
  function language(text) {
    return /[A-Za-z]/.test(text) && !CJK.test(text) ? "en" : "zh";
  }

  // el("p", {class: "x"}, "text", child, ...): strings become text nodes, never markup.
  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) {
      if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, attrs[name]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === "") continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function questionLine(question) {
    return question ? el("p", {class: "question"}, el("span", {class: "who"}, "问"), question) : null;
  }

  function errorTurn(question, message, m) {
    return el("article", {class: "turn"}, questionLine(question),
      el("div", {class: "reply"}, el("p", {class: "error", role: "alert"}, m.error + message)));
  }

  // The server's reply: its `article.turn`, or the message of an error page (e.g. 429).
  function parseReply(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var turn = doc.querySelector("article.turn");
    if (turn) return {turn: document.importNode(turn, true)};
    var error = doc.querySelector(".error");
    return {message: error ? error.textContent.trim() : ""};
  }

  function setUpChat(form) {
    var input = form.querySelector("input[name=question]");
    var context = form.querySelector("input[name=context]");
    var history = document.getElementById("history");
    var messages = JSON.parse(form.getAttribute("data-messages"));
    var asked = [];
    var recalled = -1;

    // Bring a turn's reply into view above the fixed input bar; a reply taller than the room
    // left is shown from its question down.
    function show(turn) {
      var room = form.getBoundingClientRect().top - GAP;
      var box = turn.getBoundingClientRect();
      var header = 8;
      if (box.height > room - header) {
        window.scrollBy(0, box.top - header);
      } else if (box.bottom > room || box.top < header) {
        window.scrollBy(0, box.bottom - room);
      }
    }

    // ↑ recalls the questions asked before (newest first), ↓ goes back down.
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowUp" && asked.length && (input.value === "" || recalled >= 0)) {
        recalled = Math.min(recalled + 1, asked.length - 1);
      } else if (event.key === "ArrowDown" && recalled >= 0) {
        recalled -= 1;
      } else {
        return;
      }
      event.preventDefault();
      input.value = recalled >= 0 ? asked[asked.length - 1 - recalled] : "";
    });
    input.addEventListener("input", function () { recalled = -1; });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var question = input.value.trim();
      var m = messages[language(question)];
      var body = new URLSearchParams(new FormData(form));
      var pending = el("article", {class: "turn", "aria-busy": "true"}, questionLine(question),
        el("div", {class: "reply"}, el("p", {class: "pending"}, m.pending)));
      var welcome = document.getElementById("welcome");
      if (welcome) welcome.remove();
      var previous = document.getElementById("latest");
      if (previous) previous.removeAttribute("id");
      history.appendChild(pending);
      show(pending);
      if (question && asked[asked.length - 1] !== question) asked.push(question);
      recalled = -1;
      input.value = "";
      input.focus();

      fetch("/chat/turn", {method: "POST", body: body, headers: {"Accept": "text/html"}})
        .then(function (response) {
          return response.text().then(function (html) {
            var reply = parseReply(html);
            var turn = reply.turn ||
              errorTurn(question, reply.message || m.unreadable.replace("{status}", response.status), m);
            pending.replaceWith(turn);
            if (turn.hasAttribute("data-context")) context.value = turn.getAttribute("data-context");
            show(turn);
          });
        })
        .catch(function () {
          var turn = errorTurn(question, m.offline, m);
          pending.replaceWith(turn);
          show(turn);
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("ask");
    if (form) setUpChat(form);
    // Article page: bring the highlighted passage into view (links carry #hl, typed URLs may not).
    var highlight = document.getElementById("hl");
    if (highlight && window.location.hash !== "#hl") highlight.scrollIntoView({block: "center"});
  });
})();
