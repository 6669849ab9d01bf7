// clients.mjs - the official npm clients `ollama` and `openai`, unchanged, against `autoglm serve`
// on stories260K: generate and chat (streaming and not), embed, list/show/ps, structured output;
// OpenAI chat completions (streaming and not, usage), completions, embeddings, models.list.
// usage: node clients.mjs AUTOGLM SHARED   (exit 77 = skipped: node_modules missing, run `npm ci`)
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

const [exe, shared] = process.argv.slice(2);
const tmp = mkdtempSync(join(process.env.AUTOGLM_TEST_TMP || tmpdir(), "autoglm-js-"));
// the folder goes when the test passes (exit 0), and stays, named, when it fails or AUTOGLM_KEEP_TMP=1
process.on("exit", (code) => {
  if (code !== 0 || process.env.AUTOGLM_KEEP_TMP === "1") console.error(`test folder kept: ${tmp}`);
  else try { rmSync(tmp, { recursive: true, force: true }); } catch { /* gone already */ }
});
const env = { ...process.env, AUTOGLM_MODELS: join(tmp, "models") };
writeFileSync(join(tmp, "Modelfile"), `FROM ${shared}/models/stories260K.gguf\nPARAMETER temperature 0\n`);
execFileSync(exe, ["create", "stories", "-f", join(tmp, "Modelfile")], { env, stdio: "ignore" });

const failures = [];
const check = (cond, what) => {
  if (!cond) {
    failures.push(what);
    console.error(`FAIL: ${what}`);
  }
};

const server = spawn(exe, ["serve", "--host", "127.0.0.1:0", "--parallel", "4"], { env, stdio: ["ignore", "ignore", "pipe"] });
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
  // ------------------------------------------------------------ ollama
  const ollama = new Ollama({ host });
  const opts = { num_predict: 16, temperature: 0 };
  const g = await ollama.generate({ model: "stories", prompt: "Once upon a time", raw: true, options: opts });
  check(g.done && g.response.length > 0 && g.eval_count === 16, `generate: ${JSON.stringify(g).slice(0, 200)}`);
  let streamed = "", last;
  for await (const part of await ollama.generate({ model: "stories", prompt: "Once upon a time", raw: true, options: opts, stream: true })) {
    streamed += part.response;
    last = part;
  }
  check(streamed === g.response && last.done && last.done_reason === "length", `generate stream: ${streamed} vs ${g.response}`);

  const messages = [{ role: "user", content: "Tell me a story." }];
  const c = await ollama.chat({ model: "stories", messages, options: opts });
  check(c.message.role === "assistant" && c.message.content.length > 0 && c.done, `chat: ${JSON.stringify(c).slice(0, 200)}`);
  let chatStreamed = "";
  for await (const part of await ollama.chat({ model: "stories", messages, options: opts, stream: true }))
    chatStreamed += part.message.content;
  check(chatStreamed === c.message.content, "chat stream equals chat");

  const schema = { type: "object", properties: { name: { type: "string", maxLength: 8 }, age: { type: "integer" } }, required: ["name", "age"] };
  const sj = await ollama.chat({ model: "stories", messages, format: schema, options: { temperature: 1, seed: 3, num_predict: 300 } });
  let doc = null;
  try { doc = JSON.parse(sj.message.content); } catch {}
  check(doc && typeof doc.name === "string" && Number.isInteger(doc.age), `chat format schema: ${sj.message.content}`);

  const e = await ollama.embed({ model: "stories", input: ["a cat", "a dog"] });
  check(e.embeddings.length === 2 && e.embeddings[0].length === 64, `embed: ${e.embeddings.length} x ${e.embeddings[0]?.length}`);

  const list = await ollama.list();
  check(list.models.some((m) => m.name === "stories:latest" && m.details.family === "llama"), `list: ${JSON.stringify(list)}`);
  const show = await ollama.show({ model: "stories" });
  check(show.model_info["general.architecture"] === "llama" && show.parameters.includes("temperature"), "show");
  const ps = await ollama.ps();
  check(ps.models.some((m) => m.name === "stories:latest"), `ps: ${JSON.stringify(ps)}`);
  let notFound = false;
  try { await ollama.generate({ model: "nope", prompt: "x" }); } catch (err) { notFound = err.status_code === 404; }
  check(notFound, "unknown model: ResponseError 404");

  // ------------------------------------------------------------ openai
  const openai = new OpenAI({ baseURL: `${host}/v1`, apiKey: "unused" });
  const r = await openai.chat.completions.create({ model: "stories", messages, max_tokens: 16, temperature: 0 });
  check(r.object === "chat.completion" && r.choices[0].message.content.length > 0 && r.usage.completion_tokens === 16,
        `chat.completions: ${JSON.stringify(r).slice(0, 200)}`);
  const stream = await openai.chat.completions.create({ model: "stories", messages, max_tokens: 16, temperature: 0, stream: true,
                                                         stream_options: { include_usage: true } });
  let text = "", usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) text += chunk.choices[0].delta.content;
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  check(text === r.choices[0].message.content && finish === "length" && usage?.completion_tokens === 16, `chat stream: ${text}`);
  const js = await openai.chat.completions.create({ model: "stories", messages, max_tokens: 300, temperature: 1, seed: 5,
                                                     response_format: { type: "json_schema", json_schema: { name: "p", schema } } });
  try { doc = JSON.parse(js.choices[0].message.content); } catch { doc = null; }
  check(doc && Number.isInteger(doc.age), `response_format json_schema: ${js.choices[0].message.content}`);
  const comp = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
  check(comp.choices[0].text.length > 0, "completions");
  const emb = await openai.embeddings.create({ model: "stories", input: ["hello", "world"] }); // base64 on the wire
  check(emb.data.length === 2 && emb.data[0].embedding.length === 64 && Math.abs(Math.hypot(...emb.data[0].embedding) - 1) < 1e-3,
        `embeddings: ${JSON.stringify(emb).slice(0, 200)}`);
  const embf = await openai.embeddings.create({ model: "stories", input: "hello", encoding_format: "float" });
  check(embf.data[0].embedding.every((v, i) => Math.abs(v - emb.data[0].embedding[i]) < 1e-6), "embeddings float == base64");
  const models = [];
  for await (const m of openai.models.list()) models.push(m.id);
  check(models.includes("stories:latest"), `models.list: ${models}`);
  let nf = false;
  try { await openai.chat.completions.create({ model: "nope", messages }); } catch (err) { nf = err.status === 404; }
  check(nf, "openai unknown model: 404");
} catch (err) {
  failures.push(String(err?.stack || err));
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
