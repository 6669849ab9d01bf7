// web.mjs - the desktop page of `autoglm serve` in headless Chromium (playwright-core + Debian's
// chromium), on stories260K: the page loads under its CSP, a chat streams tokens (slowed by a
// token-rate cap so the stream is visible), the stop button ends a generation, a document dropped
// into a knowledge base uploads with progress and an answer comes back with a clickable citation,
// the power mode switches from the settings and shows up in /api/ps, the UI switches to Chinese.
// Screenshots go to $AUTOGLM_TEST_TMP/web-screens/.
// usage: node web.mjs AUTOGLM SHARED   (exit 77 = skipped: chromium or playwright-core missing)
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync) || process.env.CHROMIUM;
if (!existsSync(join(here, "node_modules", "playwright-core"))) {
  console.log(`SKIP: ${here}/node_modules/playwright-core is missing: run \`npm ci\` in tests/js (scripts/setup.sh does)`);
  process.exit(77);
}
if (!chromium) {
  console.log("SKIP: no chromium (Debian: apt-get install chromium; scripts/setup.sh does), or set CHROMIUM");
  process.exit(77);
}
const { chromium: pw } = await import("playwright-core");

const [exe, shared] = process.argv.slice(2);
const base = process.env.AUTOGLM_TEST_TMP || tmpdir();
const tmp = mkdtempSync(join(base, "autoglm-web-"));
// the folder goes when the test passes (exit 0), and stays, named, when it fails or AUTOGLM_KEEP_TMP=1
process.on("exit", (code) => {
  if (code !== 0 || process.env.AUTOGLM_KEEP_TMP === "1") console.error(`test folder kept: ${tmp}`);
  else try { rmSync(tmp, { recursive: true, force: true }); } catch { /* gone already */ }
});
const shots = join(base, "web-screens");
mkdirSync(shots, { recursive: true });
const env = { ...process.env, AUTOGLM_MODELS: join(tmp, "models"), AUTOGLM_KB: join(tmp, "kb") };
writeFileSync(join(tmp, "Modelfile"), `FROM ${shared}/models/stories260K.gguf\nPARAMETER temperature 0\n`);
execFileSync(exe, ["create", "stories", "-f", join(tmp, "Modelfile")], { env, stdio: "ignore" });
const doc = join(tmp, "lighthouse.md");
writeFileSync(doc, "# The lighthouse\n\nThe old lighthouse keeper was named Bartholomew. He lit the lamp every night at nine.\n\n" +
  "# The garden\n\nTom planted tomatoes and sunflowers behind the school.\n");

const failures = [];
const check = (cond, what) => {
  console.log(`${cond ? "ok  " : "FAIL"} ${what}`);
  if (!cond) failures.push(what);
};

const server = spawn(exe, ["serve", "--host", "127.0.0.1:0", "--power", "balanced"], { env, stdio: ["ignore", "ignore", "pipe"] });
const port = await new Promise((resolve, reject) => {
  let buf = "";
  server.stderr.on("data", (d) => {
    buf += d;
    const m = buf.match(/listening on 127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  server.on("exit", (code) => reject(new Error(`server exited ${code}: ${buf}`)));
});
const host = `http://127.0.0.1:${port}`;
const browser = await pw.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] });

try {
  // plain clients still get Ollama's answer at /
  const plain = await (await fetch(`${host}/`)).text();
  check(plain === "Ollama is running", `GET / without text/html: ${plain}`);

  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const resp = await page.goto(host);
  const csp = resp.headers()["content-security-policy"] || "";
  check(csp.includes("default-src 'none'") && csp.includes("script-src 'self'"), `CSP: ${csp}`);
  await page.waitForFunction(() => document.querySelector("#model option"), null, { timeout: 10000 });
  check((await page.inputValue("#model")) === "stories:latest", "model picker lists stories:latest");

  // ---- chat, streamed: a cap of 40 tokens/s makes the tokens arrive over seconds
  await page.click("#gen-settings summary"); // sampling settings are folded away by default
  await page.fill("#num_predict", "60");
  await page.fill("#temperature", "0");
  await page.click("nav button[data-tab=settings]");
  await page.fill("#power-cap", "40");
  await page.check("input[name=power][value=powersave]");
  await page.waitForFunction(() => document.body.dataset.power === "powersave", null, { timeout: 5000 });
  const ps = await (await fetch(`${host}/api/ps`)).json();
  check(ps.power_mode === "powersave", `power mode in /api/ps: ${ps.power_mode}`);
  const power = await (await fetch(`${host}/api/power`)).json();
  check(power.max_tokens_per_s === 40, `token cap: ${JSON.stringify(power)}`);
  await page.screenshot({ path: join(shots, "settings.png") });

  await page.click("nav button[data-tab=chat]");
  await page.fill("#prompt", "Once upon a time");
  await page.press("#prompt", "Enter");
  await page.waitForFunction(() => Number(document.querySelector("#streaming")?.dataset.chunks) >= 3, null, { timeout: 10000 });
  const partial = await page.textContent("#streaming .body");
  const chunks1 = Number(await page.getAttribute("#streaming", "data-chunks"));
  await page.waitForTimeout(300);
  const chunks2 = Number(await page.getAttribute("#streaming", "data-chunks"));
  check(partial.length > 0 && chunks2 > chunks1, `streamed tokens arrive over time (${chunks1} -> ${chunks2} chunks, "${partial.slice(0, 40)}")`);
  await page.waitForSelector(".msg.assistant[data-state=done]", { timeout: 15000 });
  const stats = await page.textContent(".msg.assistant[data-state=done] .stats");
  check(/60 tok/.test(stats) && /tok\/s/.test(stats), `final stats: ${stats}`);
  await page.screenshot({ path: join(shots, "chat.png") });

  // ---- stop a generation
  await page.fill("#num_predict", "400");
  await page.fill("#prompt", "Tell me a long story");
  await page.press("#prompt", "Enter");
  await page.waitForFunction(() => Number(document.querySelector("#streaming")?.dataset.chunks) >= 2, null, { timeout: 10000 });
  await page.click("#stop");
  await page.waitForSelector(".msg.assistant[data-state=stopped]", { timeout: 5000 });
  const stoppedLen = (await page.textContent(".msg.assistant[data-state=stopped] .body")).length;
  check(stoppedLen > 0, `stopped after ${stoppedLen} characters`);
  check(await page.isEnabled("#send"), "send enabled again after stop");
  await page.screenshot({ path: join(shots, "stopped.png") });
  // conversations are kept in localStorage across reloads
  await page.reload();
  await page.waitForSelector(".msg.assistant");
  check((await page.locator(".msg").count()) >= 4, "conversation restored from localStorage");

  // ---- back to full speed
  await page.click("nav button[data-tab=settings]");
  await page.fill("#power-cap", "0");
  await page.check("input[name=power][value=performance]");
  await page.waitForFunction(() => document.body.dataset.power === "performance", null, { timeout: 5000 });
  const metrics = await (await fetch(`${host}/metrics`)).text();
  check(/autoglm_power_mode\{mode="performance"\} 1/.test(metrics), "power mode gauge in /metrics");

  // ---- knowledge base: create, drop a file (upload progress), ask, click a citation
  await page.click("nav button[data-tab=kb]");
  await page.fill("#kb-name", "notes");
  await page.click("#kb-create");
  await page.waitForFunction(() => document.querySelector("#kb-list").value === "notes", null, { timeout: 5000 });
  await page.setInputFiles("#kb-files", doc);
  await page.waitForSelector("#uploads li[data-state=done]", { timeout: 15000 });
  check(await page.$eval("#uploads li progress", (p) => p.value === 1), "upload progress reached 100%");
  await page.fill("#kb-question", "Who was the lighthouse keeper?");
  await page.click("#kb-ask-form button[type=submit]");
  await page.waitForSelector("#kb-sources li", { timeout: 30000 });
  const src = await page.textContent("#kb-sources li:first-child .cite");
  check(/lighthouse\.md/.test(src), `citation names the document: ${src}`);
  await page.click("#kb-sources li:first-child .cite");
  const cited = await page.textContent("#kb-sources li.open .src-text");
  check(await page.isVisible("#kb-sources li.open .src-text") && /Bartholomew/.test(cited), `citation opens the passage: ${cited.slice(0, 60)}`);
  check((await page.textContent("#kb-answer")).length > 0, "an answer");
  await page.screenshot({ path: join(shots, "knowledge.png") });

  // ---- summarize, dashboard, Chinese
  await page.click("nav button[data-tab=sum]");
  await page.fill("#sum-text", "The cat sat on the mat. The dog barked at the cat. Then both of them slept in the sun all afternoon.");
  await page.click("#sum-go");
  await page.waitForFunction(() => !["", "…"].includes(document.querySelector("#sum-out").textContent), null, { timeout: 10000 });
  check(!/error/i.test(await page.textContent("#sum-out")), "summary");
  await page.click("nav button[data-tab=dash]");
  await page.waitForFunction(() => document.querySelector("#d-tokens").textContent !== "–", null, { timeout: 5000 });
  check(Number(await page.textContent("#d-tokens")) > 0, "dashboard counts generated tokens");
  check((await page.textContent("#d-jpt")).length > 0, `dashboard energy per token: ${await page.textContent("#d-jpt")}`);
  await page.screenshot({ path: join(shots, "dashboard.png") });
  await page.click("#lang");
  check((await page.textContent("nav button[data-tab=chat]")) === "对话", "UI in Chinese");
  await page.screenshot({ path: join(shots, "dashboard-zh.png") });
  check(errors.length === 0, `no page errors (CSP violations included): ${errors.join(" | ")}`);
} catch (e) {
  failures.push(String(e));
  console.error(e);
} finally {
  await browser.close();
  server.kill("SIGTERM");
  if (server.exitCode === null && server.signalCode === null) await new Promise((resolve) => server.once("exit", resolve));
}
console.log(`screenshots: ${shots}`);
if (failures.length) {
  console.error(`${failures.length} failure(s)`);
  process.exit(1);
}
console.log("web: all checks passed");
