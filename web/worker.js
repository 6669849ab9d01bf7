// worker.js - Markdown and code rendering off the page's main thread. Message in: {id, text};
// message out: {id, html}. Our own small renderer: the text is HTML-escaped first, then fenced
// code (``` with a language; an unclosed fence while streaming is code to the end), headings,
// lists, quotes, paragraphs, and inline code / bold / italic / links (http and https only).
// Code gets a light highlighting of keywords, strings, comments and numbers.
"use strict";

const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const KEYWORDS = new Set(("if else for while do return function const let var class new import export from def " +
  "elif try except finally with as in not and or is None True False null true false struct enum typedef static " +
  "void int char float double bool unsigned long switch case break continue default fn pub mut use impl match " +
  "async await yield lambda public private protected package func go type interface").split(" "));

// One pass over escaped code: comments, strings, numbers, identifiers (keywords marked).
function highlight(code) {
  const re = /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)|(&quot;(?:[^&\n]|&(?!quot;))*?&quot;|'(?:[^'\\\n]|\\.)*')|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*)/g;
  return code.replace(re, (m, c, s, n, w) => {
    if (c) return `<span class="tok-c">${m}</span>`;
    if (s) return `<span class="tok-s">${m}</span>`;
    if (n) return `<span class="tok-n">${m}</span>`;
    if (w && KEYWORDS.has(w)) return `<span class="tok-k">${m}</span>`;
    return m;
  });
}

// Inline spans of an escaped line; code spans first so their contents stay literal.
function inline(s) {
  const parts = s.split(/(`[^`]+`)/);
  return parts.map((p, i) => {
    if (i % 2) return `<code>${p.slice(1, -1)}</code>`;
    return p
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
      .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
  }).join("");
}

function render(text) {
  const lines = esc(text).split("\n");
  const out = [];
  let para = [], list = null;
  const flushPara = () => { if (para.length) out.push(`<p>${para.map(inline).join("<br>")}</p>`); para = []; };
  const flushList = () => { if (list) out.push(`<${list.tag}>${list.items.map((x) => `<li>${inline(x)}</li>`).join("")}</${list.tag}>`); list = null; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+-]*)/);
    if (fence) {
      flushPara(); flushList();
      const body = [];
      for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) body.push(lines[i]);
      const lang = fence[1] ? ` data-lang="${fence[1]}"` : "";
      out.push(`<pre${lang}><code>${highlight(body.join("\n"))}</code></pre>`);
      continue;
    }
    const h = line.match(/^(#{1,6})\s+(.*)$/);
    const ul = line.match(/^\s*[-*+]\s+(.*)$/), ol = line.match(/^\s*\d+[.)]\s+(.*)$/);
    const quote = line.match(/^&gt;\s?(.*)$/);
    if (h) { flushPara(); flushList(); out.push(`<h${h[1].length + 2}>${inline(h[2])}</h${h[1].length + 2}>`); }
    else if (ul || ol) {
      flushPara();
      const tag = ul ? "ul" : "ol";
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push((ul || ol)[1]);
    } else if (quote) { flushPara(); flushList(); out.push(`<blockquote>${inline(quote[1])}</blockquote>`); }
    else if (!line.trim()) { flushPara(); flushList(); }
    else { flushList(); para.push(line); }
  }
  flushPara(); flushList();
  return out.join("");
}

self.onmessage = (e) => {
  const { id, text } = e.data;
  self.postMessage({ id, html: render(String(text || "")) });
};
