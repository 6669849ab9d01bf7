// app.js - the desktop page: chat (streamed from /api/chat, rendered in worker.js once per
// animation frame, stopped with an AbortController), conversations in localStorage, model
// picker (/api/tags), knowledge bases (/api/kb/...: uploads with progress through XMLHttpRequest,
// answers with clickable citations), summaries (/api/summarize), power mode (/api/power) and a
// live dashboard (/api/stats). English and Chinese. No external sources (see the server's CSP).
"use strict";

// ------------------------------------------------------------------ i18n
const STRINGS = {
  en: {},
  zh: {
    tab_chat: "对话", tab_kb: "知识库", tab_sum: "摘要", tab_dash: "仪表盘", tab_settings: "设置",
    new_chat: "新对话", search: "搜索", prompt_ph: "输入消息（Enter 发送，Shift+Enter 换行）", send: "发送", stop: "停止",
    gen_settings: "系统提示词与采样", system: "系统提示词", temperature: "温度", max_tokens: "最大生成长度", seed: "随机种子",
    kb_name: "新知识库名称", create: "创建", drop: "拖放文件到此处或点击选择（txt、md、pdf、docx、html）",
    question: "向知识库提问", ask: "提问", sum_ph: "粘贴需要摘要的文本", extractive: "抽取式（不用模型）", summarize: "生成摘要",
    tps: "速度（词元/秒）", ttft: "首词延迟", jpt: "每词元能耗（焦耳）", memory: "内存（RSS）", power: "电源模式",
    tokens: "已生成词元", slots: "使用中的槽位", models: "已加载模型",
    p_perf: "高性能：全部核心，整批处理", p_bal: "均衡：一半核心，每批 64", p_save: "省电：单核心，每批 16",
    cap: "每序列速率上限（词元/秒，0 = 不限）", apikey: "API 密钥（用于 --auth 启动的服务器）",
    stopped: "已停止", error: "错误", untitled: "新对话", uploaded: "已添加", unavailable: "此机器不可用",
    energy_note: "能耗来源：{sources}", na: "不可用", created: "已创建", power_set: "电源模式：{mode}", no_model: "没有模型",
  },
};
const EN = {
  stopped: "stopped", error: "error", untitled: "New chat", uploaded: "added", unavailable: "unavailable on this machine",
  energy_note: "Energy sources: {sources}", na: "n/a", created: "created", power_set: "Power mode: {mode}", no_model: "no models",
};
let lang = localStorage.getItem("autoglm.lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
const t = (key, vars = {}) => {
  let s = (STRINGS[lang] && STRINGS[lang][key]) || EN[key] || key;
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
  return s;
};
const defaults = new Map(); // the English text of each translated element, read from the HTML
function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    if (!defaults.has(el)) defaults.set(el, el.textContent);
    el.textContent = lang === "en" ? defaults.get(el) : STRINGS.zh[el.dataset.i18n] || defaults.get(el);
  }
  for (const el of document.querySelectorAll("[data-i18n-ph]")) {
    if (!el.dataset.phEn) el.dataset.phEn = el.placeholder;
    el.placeholder = lang === "en" ? el.dataset.phEn : STRINGS.zh[el.dataset.i18nPh] || el.dataset.phEn;
  }
  $("#lang").textContent = lang === "en" ? "中文" : "English";
}

// ------------------------------------------------------------------ helpers
const $ = (sel) => document.querySelector(sel);
const debounce = (fn, ms) => { let h; return (...a) => { clearTimeout(h); h = setTimeout(() => fn(...a), ms); }; };
const el = (tag, props = {}, ...kids) => { const e = document.createElement(tag); Object.assign(e, props); e.append(...kids); return e; };
function toast(msg) {
  const b = $("#toast");
  b.textContent = msg;
  b.classList.add("show");
  clearTimeout(toast.h);
  toast.h = setTimeout(() => b.classList.remove("show"), 2500);
}
function headers(json = true) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = localStorage.getItem("autoglm.key");
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}
async function api(path, body, opts = {}) {
  const r = await fetch(path, { method: body === undefined ? "GET" : "POST", headers: headers(), body: body === undefined ? undefined : JSON.stringify(body), ...opts });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(typeof data.error === "string" ? data.error : data.error?.message || `HTTP ${r.status}`);
  return data;
}
const fmtNum = (x, d = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
const fmtBytes = (b) => (b > 1 << 30 ? `${(b / (1 << 30)).toFixed(2)} GiB` : `${(b / (1 << 20)).toFixed(1)} MiB`);

// ------------------------------------------------------------------ rendering (worker.js)
const worker = new Worker("/worker.js");
const pending = new Map(); // render id -> element
let renderSeq = 0;
worker.onmessage = (e) => {
  const target = pending.get(e.data.id);
  pending.delete(e.data.id);
  if (target && Number(target.dataset.rendered || 0) < e.data.id) {
    target.innerHTML = e.data.html; // built by worker.js from HTML-escaped text
    target.dataset.rendered = e.data.id;
  }
};
function renderInto(target, text) {
  const id = ++renderSeq;
  pending.set(id, target);
  worker.postMessage({ id, text });
}

// ------------------------------------------------------------------ conversations
const store = {
  load() { try { return JSON.parse(localStorage.getItem("autoglm.convs")) || []; } catch { return []; } },
  save(convs) { localStorage.setItem("autoglm.convs", JSON.stringify(convs)); },
};
let convs = store.load();
let current = localStorage.getItem("autoglm.current");
const conv = () => convs.find((c) => c.id === current);
function newConv() {
  const c = { id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, title: "", messages: [], at: Date.now() };
  convs.unshift(c);
  current = c.id;
  localStorage.setItem("autoglm.current", current);
  store.save(convs);
  drawConvList();
  drawMessages();
}
function drawConvList() {
  const q = $("#conv-search").value.trim().toLowerCase();
  const list = $("#conv-list");
  list.replaceChildren();
  for (const c of convs) {
    const title = c.title || t("untitled");
    if (q && !title.toLowerCase().includes(q) && !c.messages.some((m) => m.content.toLowerCase().includes(q))) continue;
    const del = el("button", { className: "del", textContent: "×", title: "delete" });
    del.onclick = (e) => {
      e.stopPropagation();
      convs = convs.filter((x) => x.id !== c.id);
      store.save(convs);
      if (current === c.id) (convs[0] ? selectConv(convs[0].id) : newConv());
      drawConvList();
    };
    const li = el("li", { className: c.id === current ? "active" : "" }, el("span", { textContent: title }), del);
    li.onclick = () => selectConv(c.id);
    list.append(li);
  }
}
function selectConv(id) {
  current = id;
  localStorage.setItem("autoglm.current", id);
  drawConvList();
  drawMessages();
}
function messageEl(m) {
  const body = el("div", { className: "body" });
  const box = el("div", { className: `msg ${m.role}` }, body);
  if (m.role === "user") body.textContent = m.content;
  else renderInto(body, m.content);
  if (m.stats) box.append(el("div", { className: "stats", textContent: m.stats }));
  return box;
}
function drawMessages() {
  const c = conv();
  $("#messages").replaceChildren(...(c ? c.messages.map(messageEl) : []));
  $("#messages").scrollTop = 1e9;
}

// ------------------------------------------------------------------ chat
let controller = null;
function options() {
  const o = {};
  for (const k of ["temperature", "top_p", "top_k", "num_predict", "seed"]) {
    const v = $(`#${k}`).value;
    if (v !== "") o[k] = Number(v);
  }
  return o;
}
function statsLine(fin) {
  const tps = fin.eval_duration ? fin.eval_count / (fin.eval_duration / 1e9) : 0;
  const ttft = ((fin.total_duration - fin.eval_duration) / 1e6).toFixed(0);
  const jpt = fin.joules_per_token === null || fin.joules_per_token === undefined ? t("unavailable") : `${fin.joules_per_token.toFixed(3)} J`;
  return `${fin.eval_count} tok · ${tps.toFixed(1)} tok/s · TTFT ${ttft} ms · J/tok: ${jpt}`;
}
async function send(text) {
  const model = $("#model").value;
  if (!model) return toast(t("no_model"));
  if (!conv()) newConv();
  const c = conv();
  c.messages.push({ role: "user", content: text });
  if (!c.title) c.title = text.slice(0, 40);
  const reply = { role: "assistant", content: "" };
  c.messages.push(reply);
  store.save(convs);
  drawConvList();
  const box = messageEl(reply);
  const body = box.querySelector(".body");
  box.dataset.chunks = "0";
  box.id = "streaming";
  $("#messages").append(messageEl(c.messages[c.messages.length - 2]), box);
  const sys = $("#system").value.trim();
  const messages = (sys ? [{ role: "system", content: sys }] : []).concat(c.messages.slice(0, -1));
  controller = new AbortController();
  $("#stop").disabled = false;
  $("#send").disabled = true;
  $("#chat-status").textContent = "…";
  let frame = 0;
  const schedule = () => { // at most one render per animation frame
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; renderInto(body, reply.content); $("#messages").scrollTop = 1e9; });
  };
  try {
    const r = await fetch("/api/chat", { method: "POST", headers: headers(), signal: controller.signal,
      body: JSON.stringify({ model, messages, stream: true, options: options() }) });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `HTTP ${r.status}`);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const obj = JSON.parse(line);
        if (obj.error) throw new Error(obj.error);
        if (obj.message?.content) {
          reply.content += obj.message.content;
          box.dataset.chunks = String(Number(box.dataset.chunks) + 1);
          schedule();
        }
        if (obj.done) {
          reply.stats = statsLine(obj);
          box.append(el("div", { className: "stats", textContent: reply.stats }));
        }
      }
    }
    box.dataset.state = "done";
  } catch (e) {
    if (e.name === "AbortError") {
      reply.stats = t("stopped");
      box.dataset.state = "stopped";
    } else {
      reply.stats = `${t("error")}: ${e.message}`;
      box.dataset.state = "error";
    }
    box.append(el("div", { className: "stats", textContent: reply.stats }));
  } finally {
    controller = null;
    box.removeAttribute("id");
    if (frame) cancelAnimationFrame(frame);
    renderInto(body, reply.content);
    $("#stop").disabled = true;
    $("#send").disabled = false;
    $("#chat-status").textContent = "";
    store.save(convs);
  }
}

async function loadModels() {
  try {
    const { models } = await api("/api/tags");
    const sel = $("#model"), want = localStorage.getItem("autoglm.model");
    sel.replaceChildren(...models.map((m) => el("option", { value: m.name, textContent: m.name })));
    if (models.some((m) => m.name === want)) sel.value = want;
  } catch (e) { toast(e.message); }
}

// ------------------------------------------------------------------ knowledge bases
async function loadBases(select) {
  try {
    const data = await api("/api/kb");
    const names = data.bases || data.names || data.knowledge_bases || [];
    const sel = $("#kb-list");
    sel.replaceChildren(...names.map((n) => el("option", { value: n, textContent: n })));
    if (select) sel.value = select;
  } catch (e) { toast(e.message); }
}
const toBase64 = (file) => new Promise((resolve, reject) => {
  const r = new FileReader();
  r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
  r.onerror = () => reject(r.error);
  r.readAsDataURL(file);
});
async function upload(file) {
  const name = $("#kb-list").value;
  const bar = el("progress", { max: 1, value: 0 });
  const status = el("span", { className: "muted" });
  const li = el("li", {}, el("span", { textContent: file.name }), bar, status);
  li.dataset.file = file.name;
  $("#uploads").append(li);
  const content = await toBase64(file);
  const xhr = new XMLHttpRequest(); // fetch has no upload progress; XHR's upload events do
  xhr.open("POST", "/api/kb/add");
  for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
  xhr.onload = () => {
    bar.value = 1;
    let data = {};
    try { data = JSON.parse(xhr.responseText); } catch {}
    li.dataset.state = xhr.status === 200 ? "done" : "error";
    status.textContent = xhr.status === 200 ? ` ${t("uploaded")}` : ` ${t("error")}: ${data.error || xhr.status}`;
  };
  xhr.onerror = () => { li.dataset.state = "error"; status.textContent = ` ${t("error")}`; };
  xhr.send(JSON.stringify({ name, files: [{ filename: file.name, content }] }));
}
function showAnswer(data) {
  const ans = $("#kb-answer"), list = $("#kb-sources");
  const sources = data.sources || [];
  // "[n]" in the answer become links to source n; every source is listed and opens on click
  ans.replaceChildren(...String(data.answer || "").split(/(\[\d+\])/).map((part) => {
    const m = part.match(/^\[(\d+)\]$/);
    if (!m || !sources[m[1] - 1]) return document.createTextNode(part);
    const b = el("button", { className: "cite", textContent: part });
    b.onclick = () => openSource(Number(m[1]));
    return b;
  }));
  list.replaceChildren(...sources.map((s) => {
    const head = el("button", { className: "cite", textContent: `[${s.n}] ${s.source}${s.page ? ` p.${s.page}` : ""}${s.heading ? ` · ${s.heading}` : ""}` });
    const li = el("li", { id: `src-${s.n}` }, head, el("div", { className: "src-text", textContent: s.text }));
    head.onclick = () => li.classList.toggle("open");
    return li;
  }));
}
function openSource(n) {
  const li = $(`#src-${n}`);
  if (!li) return;
  li.classList.add("open");
  li.scrollIntoView({ block: "nearest" });
}

// ------------------------------------------------------------------ dashboard and power
const history = [];
function drawChart() {
  const cv = $("#d-chart"), g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  const max = Math.max(1, ...history);
  g.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent") || "#2f6fde";
  g.lineWidth = 2;
  g.beginPath();
  history.forEach((v, i) => {
    const x = (i / 59) * cv.width, y = cv.height - (v / max) * (cv.height - 10) - 5;
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
}
let lastTokens = null, lastAt = 0;
async function poll() {
  if (document.hidden) return;
  try {
    const s = await api("/api/stats");
    const now = performance.now();
    if (lastTokens !== null) history.push(((s.generated_tokens - lastTokens) * 1000) / (now - lastAt));
    if (history.length > 60) history.shift();
    lastTokens = s.generated_tokens;
    lastAt = now;
    $("#d-tps").textContent = fmtNum(s.last.tokens_per_s);
    $("#d-ttft").textContent = s.last.ttft_s === null ? "–" : `${(s.last.ttft_s * 1000).toFixed(0)} ms`;
    $("#d-jpt").textContent = s.last.joules_per_token === null ? t("na") : `${s.last.joules_per_token.toFixed(3)} J`;
    $("#d-mem").textContent = fmtBytes(s.memory.rss_bytes);
    $("#d-power").textContent = s.power.mode;
    $("#d-tokens").textContent = String(s.generated_tokens);
    $("#d-slots").textContent = `${s.slots_active} / ${s.slots_total}`;
    $("#d-models").textContent = String(s.models_loaded);
    $("#d-energy").textContent = t("energy_note", { sources: s.energy.sources === "unavailable" ? t("unavailable") : s.energy.sources });
    drawChart();
    showPower(s.power);
  } catch { /* the server may be restarting: try again on the next tick */ }
}
function showPower(p) {
  for (const r of document.querySelectorAll("input[name=power]")) r.checked = r.value === p.mode;
  $("#power-status").textContent = `${t("power_set", { mode: p.mode })} · ${p.n_threads} threads · batch ${p.n_batch} · ${p.gpu}`;
  document.body.dataset.power = p.mode;
}
async function setPower() {
  const mode = document.querySelector("input[name=power]:checked")?.value;
  if (!mode) return;
  try { showPower(await api("/api/power", { mode, max_tokens_per_s: Number($("#power-cap").value) || 0 })); }
  catch (e) { toast(e.message); }
}

// ------------------------------------------------------------------ wiring
function init() {
  applyLang();
  for (const b of document.querySelectorAll("nav button")) {
    b.onclick = () => {
      for (const x of document.querySelectorAll("nav button")) x.classList.toggle("active", x === b);
      for (const s of document.querySelectorAll(".tab")) s.classList.toggle("active", s.id === `tab-${b.dataset.tab}`);
      if (b.dataset.tab === "kb") loadBases();
      if (b.dataset.tab === "dash") poll();
    };
  }
  $("#lang").onclick = () => { lang = lang === "en" ? "zh" : "en"; localStorage.setItem("autoglm.lang", lang); applyLang(); drawConvList(); poll(); };
  $("#model").onchange = () => localStorage.setItem("autoglm.model", $("#model").value);
  $("#new-chat").onclick = newConv;
  $("#conv-search").oninput = debounce(drawConvList, 200);
  $("#chat-form").onsubmit = (e) => {
    e.preventDefault();
    const text = $("#prompt").value.trim();
    if (!text || controller) return;
    $("#prompt").value = "";
    send(text);
  };
  $("#prompt").onkeydown = (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#chat-form").requestSubmit(); } };
  $("#stop").onclick = () => controller && controller.abort();
  // sampling settings and the system prompt survive reloads (saved after typing stops)
  const saved = JSON.parse(localStorage.getItem("autoglm.settings") || "{}");
  const fields = ["system", "temperature", "top_p", "top_k", "num_predict", "seed"];
  for (const f of fields) if (saved[f] !== undefined) $(`#${f}`).value = saved[f];
  const save = debounce(() => localStorage.setItem("autoglm.settings", JSON.stringify(Object.fromEntries(fields.map((f) => [f, $(`#${f}`).value])))), 300);
  for (const f of fields) $(`#${f}`).addEventListener("input", save);
  $("#api-key").value = localStorage.getItem("autoglm.key") || "";
  $("#api-key").addEventListener("input", debounce(() => { localStorage.setItem("autoglm.key", $("#api-key").value.trim()); loadModels(); }, 400));
  for (const r of document.querySelectorAll("input[name=power]")) r.onchange = setPower;
  $("#power-cap").addEventListener("input", debounce(setPower, 400));

  $("#kb-create").onclick = async () => {
    const name = $("#kb-name").value.trim();
    if (!name) return;
    try { await api("/api/kb/create", { name }); toast(`${name}: ${t("created")}`); $("#kb-name").value = ""; loadBases(name); }
    catch (e) { toast(e.message); }
  };
  const drop = $("#drop"), files = $("#kb-files");
  drop.onclick = () => files.click();
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); for (const f of e.dataTransfer.files) upload(f); };
  files.onchange = () => { for (const f of files.files) upload(f); files.value = ""; };
  $("#kb-ask-form").onsubmit = async (e) => {
    e.preventDefault();
    const question = $("#kb-question").value.trim();
    if (!question) return;
    $("#kb-answer").textContent = "…";
    try { showAnswer(await api("/api/kb/ask", { name: $("#kb-list").value, question, model: $("#model").value })); }
    catch (err) { $("#kb-answer").textContent = `${t("error")}: ${err.message}`; }
  };
  $("#sum-go").onclick = async () => {
    const extractive = $("#sum-extractive").checked;
    const body = { text: $("#sum-text").value, extractive };
    if (!extractive) body.model = $("#model").value;
    $("#sum-out").textContent = "…";
    try { $("#sum-out").textContent = (await api("/api/summarize", body)).summary; }
    catch (e) { $("#sum-out").textContent = `${t("error")}: ${e.message}`; }
  };

  if (!conv()) { if (convs[0]) current = convs[0].id; else newConv(); }
  drawConvList();
  drawMessages();
  loadModels();
  api("/api/power").then(showPower).catch(() => {});
  setInterval(poll, 2000);
}
init();
