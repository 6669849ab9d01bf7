// vision.mjs - images through the official npm clients, unchanged, against `autoglm serve` with the
// tiny GLM-4.1V fixture (tests/data/glm4v, converted here with `autoglm convert --mmproj` and created
// with two FROM lines): the `openai` client sends a chat whose user message has an image_url part
// (a PNG data URL) and streams the answer; the `ollama` client sends the same image in a message's
// `images` (and to generate), streamed and not. Every answer equals `autoglm run --image`'s.
// usage: node vision.mjs AUTOGLM SHARED   (exit 77 = skipped: node_modules missing, run `npm ci`)
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, "node_modules", "ollama")) || !existsSync(join(here, "node_modules", "openai"))) {
  console.log(`SKIP: ${here}/node_modules is missing: run \`npm ci\` in tests/js (scripts/setup.sh does)`);
  process.exit(77);
}
const { Ollama } = await import("ollama");
const { default: OpenAI } = await import("openai");

const [exe] = process.argv.slice(2);
const tmp = mkdtempSync(join(process.env.AUTOGLM_TEST_TMP || tmpdir(), "autoglm-jsv-"));
// the folder goes when the test passes (exit 0), and stays, named, when it fails or AUTOGLM_KEEP_TMP=1
process.on("exit", (code) => {
  if (code !== 0 || process.env.AUTOGLM_KEEP_TMP === "1") console.error(`test folder kept: ${tmp}`);
  else try { rmSync(tmp, { recursive: true, force: true }); } catch { /* gone already */ }
});
const env = { ...process.env, AUTOGLM_MODELS: join(tmp, "models") };
const fixture = join(here, "..", "data", "glm4v");
const pngPath = join(here, "..", "data", "image", "rgba_308x70.png"); // the fixture answers it with visible text
execFileSync(exe, ["convert", fixture, join(tmp, "lm.gguf"), "--type", "f32", "--mmproj", join(tmp, "mmproj.gguf")], { env, stdio: "ignore" });
writeFileSync(join(tmp, "Modelfile"), "FROM lm.gguf\nFROM mmproj.gguf\nPARAMETER temperature 0\n");
execFileSync(exe, ["create", "seeing", "-f", join(tmp, "Modelfile")], { env, stdio: "ignore" });
// the reference answer: the CLI, greedy, 8 tokens (it ends the answer with a newline)
const cliAnswer = execFileSync(exe, ["run", "seeing", "--image", pngPath, "Describe it.", "--temperature", "0", "--num-predict", "8"],
  { env, encoding: "latin1" }).slice(0, -1);
const png = readFileSync(pngPath);
const utf8 = (s) => Buffer.from(s, "utf8").toString("latin1"); // compare as the CLI's bytes

const failures = [];
const check = (cond, what) => {
  if (!cond) {
    failures.push(what);
    console.error(`FAIL: ${what}`);
  }
};

const server = spawn(exe, ["serve", "--host", "127.0.0.1:0", "--parallel", "2"], { env, stdio: ["ignore", "ignore", "pipe"] });
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

try {
  // ------------------------------------------------------------ openai: image_url with a PNG data URL, streamed
  const openai = new OpenAI({ baseURL: `${host}/v1`, apiKey: "unused" });
  const messages = [{ role: "user", content: [
    { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } },
    { type: "text", text: "Describe it." }] }];
  let streamed = "", chunks = 0, finish = null;
  const stream = await openai.chat.completions.create({ model: "seeing", messages, temperature: 0, max_tokens: 8, stream: true });
  for await (const chunk of stream) {
    chunks++;
    streamed += chunk.choices[0]?.delta?.content || "";
    finish = chunk.choices[0]?.finish_reason || finish;
  }
  check(chunks >= 2 && finish === "length" && streamed.startsWith("GGGG") && utf8(streamed) === cliAnswer,
        `openai streamed image chat: ${JSON.stringify(streamed)} vs the CLI's ${JSON.stringify(cliAnswer)} (${chunks} chunks, ${finish})`);
  const whole = await openai.chat.completions.create({ model: "seeing", messages, temperature: 0, max_tokens: 8 });
  check(whole.choices[0].message.content === streamed && whole.usage.prompt_tokens > 22,
        `openai image chat: ${JSON.stringify(whole).slice(0, 300)}`);
  try {
    await openai.chat.completions.create({ model: "seeing", temperature: 0, max_tokens: 8, messages: [{ role: "user", content: [
      { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }, { type: "text", text: "?" }] }] });
    check(false, "openai: a bad image is refused");
  } catch (err) {
    check(err.status === 400 && /image/.test(err.message), `openai bad image: ${err.status} ${err.message}`);
  }

  // ------------------------------------------------------------ ollama: images in a chat message and in generate
  const ollama = new Ollama({ host });
  const opts = { temperature: 0, num_predict: 8 };
  let ochat = "", last;
  for await (const part of await ollama.chat({ model: "seeing", options: opts, stream: true,
    messages: [{ role: "user", content: "Describe it.", images: [new Uint8Array(png)] }] })) {
    ochat += part.message.content;
    last = part;
  }
  check(last?.done && utf8(ochat) === cliAnswer, `ollama streamed image chat: ${JSON.stringify(ochat)} vs ${JSON.stringify(cliAnswer)}`);
  const c = await ollama.chat({ model: "seeing", options: opts, messages: [{ role: "user", content: "Describe it.", images: [png.toString("base64")] }] });
  check(c.message.content === ochat, `ollama image chat: ${JSON.stringify(c).slice(0, 300)}`);
  const g = await ollama.generate({ model: "seeing", prompt: "Describe it.", images: [new Uint8Array(png)], options: opts });
  check(g.response === ochat && g.prompt_eval_count > 22, `ollama image generate: ${JSON.stringify(g).slice(0, 300)}`);
  const show = await ollama.show({ model: "seeing" });
  check(show.capabilities?.includes("vision") && show.projector_info?.["clip.projector_type"] === "glm4v",
        `ollama show: ${JSON.stringify(show.capabilities)} ${JSON.stringify(show.projector_info).slice(0, 200)}`);
} catch (err) {
  failures.push(String(err));
  console.error(err);
} finally {
  server.kill("SIGTERM");
  await new Promise((resolve) => server.on("exit", resolve));
}
if (failures.length) {
  console.error(`${failures.length} failures`);
  process.exit(1);
}
console.log("ok");
