// newsqa chat: posts questions to /ask and appends the replies. No framework, and no HTML from strings:
// every piece of text from the index goes into the page through textContent.
"use strict";

(function () {
  var OTHER_PASSAGES = 3;

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

  // An article's own link only when it is http(s); a source could carry "javascript:".
  function safeUrl(url) {
    if (!url) return null;
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? url : null;
    } catch (e) {
      return null;
    }
  }

  function articleHref(articleId, passageId, start, end) {
    var href = "/articles/" + encodeURIComponent(articleId);
    var params = [];
    if (passageId) params.push("p=" + encodeURIComponent(passageId));
    if (start !== undefined && end !== undefined) params.push("a=" + start + "-" + end);
    return params.length ? href + "?" + params.join("&") + "#hl" : href;
  }

  // Title linked to the original when it has a url (the local page one click away), else locally.
  function citation(item, local) {
    var url = safeUrl(item.url);
    var line = el("span", {}, el("a", {href: url || local}, item.title));
    if (item.source) line.appendChild(el("span", {class: "meta"}, item.source));
    if (item.published) line.appendChild(el("span", {class: "meta"}, item.published));
    if (url) line.appendChild(el("a", {class: "local", href: local}, "本地"));
    return line;
  }

  function renderReply(reply, data) {
    reply.textContent = "";
    var answer = data.answer;
    var others = data.passages || [];
    if (answer) {
      var sentence = answer.sentence || answer.text;
      var at = sentence.indexOf(answer.text);
      var marked = at < 0
        ? el("p", {class: "sentence"}, sentence)
        : el("p", {class: "sentence"}, sentence.slice(0, at), el("mark", {}, answer.text),
             sentence.slice(at + answer.text.length));
      reply.appendChild(el("p", {class: "short-answer"}, answer.text));
      reply.appendChild(marked);
      reply.appendChild(el("p", {class: "cite"}, "出处：",
        citation(answer, articleHref(answer.article_id, answer.passage_id, answer.start, answer.end))));
      others = others.filter(function (p) { return p.passage_id !== answer.passage_id; });
    } else {
      reply.appendChild(el("p", {class: "no-answer"}, "没有找到答案"));
      reply.appendChild(el("p", {class: "hint"}, "报纸里没有找到能回答这个问题的句子。可以换个问法，或看看下面的相关段落。"));
    }
    others = others.slice(0, OTHER_PASSAGES);
    if (others.length) {
      var list = el("ol");
      others.forEach(function (p) {
        list.appendChild(el("li", {}, citation(p, articleHref(p.article_id, p.passage_id)), el("p", {}, p.text)));
      });
      reply.appendChild(el("details", {class: "passages"},
        el("summary", {}, (answer ? "其他相关段落" : "相关段落") + "（" + others.length + "）"), list));
    }
  }

  function renderError(reply, message) {
    reply.textContent = "";
    reply.appendChild(el("p", {class: "error", role: "alert"}, "出错了：" + message));
  }

  function ask(question, reply) {
    fetch("/ask", {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify({question: question})
    }).then(function (response) {
      return response.json().catch(function () {
        return {ok: false, error: "服务器返回了无法读取的内容（HTTP " + response.status + "）"};
      }).then(function (data) {
        if (!response.ok || data.ok === false) renderError(reply, data.error || "HTTP " + response.status);
        else renderReply(reply, data);
      });
    }).catch(function () {
      renderError(reply, "无法连接服务器，请检查网络后再试。");
    });
  }

  function setUpChat(form) {
    var input = form.querySelector("input[name=question]");
    var history = document.getElementById("history");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var question = input.value.trim();
      var welcome = document.getElementById("welcome");
      var reply = el("div", {class: "reply"}, el("p", {class: "pending"}, "正在查找…"));
      var turn = el("article", {class: "turn"}, el("p", {class: "question"}, el("span", {class: "who"}, "问"), question), reply);
      if (welcome) welcome.remove();
      history.appendChild(turn);
      if (!question) renderError(reply, "请输入问题。");
      else ask(question, reply);
      input.value = "";
      turn.scrollIntoView({block: "nearest"});
      input.focus();
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
