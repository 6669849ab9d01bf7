#!/usr/bin/python3
"""
render_templates.py - expected outputs of the chat templates, rendered by the reference.

The reference is Python jinja2 configured the way Hugging Face transformers' apply_chat_template
configures it: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
loopcontrols extension, `tojson` replaced by json.dumps(ensure_ascii=False, ...), and the globals
raise_exception(msg) and strftime_now(fmt). strftime_now formats the fixed time given in the
context key `_ag_now` (our interpreter does the same), so the outputs do not depend on the day.

For every template in $AUTOGLM_SHARED/chat-templates (default: ../shared next to the repository)
and every case in tests/data/chat/conversations.json it writes
    tests/data/chat/expected/<template>.<case>.txt     the rendered text, or
    tests/data/chat/expected/<template>.<case>.error   the message jinja2 raised,
and tests/data/chat/template_vars.json: the per-template variables (bos/eos tokens, extras) that
are merged into each case's context. The C test builds the same context: case, then template
variables, then `_ag_now`.

Run with Debian's /usr/bin/python3 (python3-jinja2 3.1.2). The tests never run this script; its
outputs are committed.
"""
import datetime
import glob
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "tests", "data", "chat")
FIXED_NOW = "2024-07-26T09:30:00"

LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
MISTRAL = {"bos_token": "<s>", "eos_token": "</s>"}
QWEN = {"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>"}
DEEPSEEK = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}

# Variables per template: the special tokens its tokenizer defines, plus extras a template needs.
TEMPLATE_VARS = {
    "ByteDance-Seed-OSS": {"bos_token": "<seed:bos>", "eos_token": "<seed:eos>"},
    "CohereForAI-c4ai-command-r-plus-tool_use": {"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>"},
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": {"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>"},
    "Mistral-Small-3.2-24B-Instruct-2506": MISTRAL,
    "NVIDIA-Nemotron-Nano-v2": {"bos_token": "<SPECIAL_10>", "eos_token": "<SPECIAL_12>"},
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"},
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"},
    "Qwen-QwQ-32B": QWEN,
    "Qwen-Qwen2.5-7B-Instruct": QWEN,
    "Qwen-Qwen3-0.6B": QWEN,
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": DEEPSEEK,
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": DEEPSEEK,
    "deepseek-ai-DeepSeek-V3.1": DEEPSEEK,
    # firefunction reads two variables of its own: the function list as JSON text and the date.
    "fireworks-ai-llama-3-firefunction-v2": dict(LLAMA3, functions='[{"name": "get_weather"}]', datetime="2024-07-26"),
    "google-gemma-2-2b-it": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "ibm-granite-granite-3.3-2B-Instruct": {"bos_token": "<|end_of_text|>", "eos_token": "<|end_of_text|>"},
    "llama-cpp-deepseek-r1": DEEPSEEK,
    # rwkv gets no special tokens: it prints bos_token, which then is undefined.
    "llama-cpp-rwkv-world": {},
    "meetkai-functionary-medium-v3.1": LLAMA3,
    "meetkai-functionary-medium-v3.2": LLAMA3,
    "meta-llama-Llama-3.1-8B-Instruct": LLAMA3,
    "meta-llama-Llama-3.2-3B-Instruct": LLAMA3,
    "meta-llama-Llama-3.3-70B-Instruct": LLAMA3,
    "microsoft-Phi-3.5-mini-instruct": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "mistralai-Mistral-Nemo-Instruct-2407": MISTRAL,
    "moonshotai-Kimi-K2": {"bos_token": "[BOS]", "eos_token": "[EOS]"},
    "openai-gpt-oss-120b": {"bos_token": "<|startoftext|>", "eos_token": "<|return|>"},
    "unsloth-mistral-Devstral-Small-2507": MISTRAL,
    "zai-org-GLM-4.6": {"eos_token": "<|endoftext|>"},
}


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return now.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    shared = os.environ.get("AUTOGLM_SHARED") or os.path.join(REPO, "..", "shared")
    templates = sorted(glob.glob(os.path.join(shared, "chat-templates", "*.jinja")))
    if not templates:
        sys.exit(f"no templates under {shared}/chat-templates")
    with open(os.path.join(DATA, "conversations.json"), encoding="utf-8") as f:
        cases = json.load(f)
    out_dir = os.path.join(DATA, "expected")
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, "*")):
        os.remove(old)

    env = make_env(datetime.datetime.fromisoformat(FIXED_NOW))
    used_vars = {}
    for path in templates:
        name = os.path.basename(path)[: -len(".jinja")]
        if name not in TEMPLATE_VARS:
            sys.exit(f"{name}: add its special tokens to TEMPLATE_VARS")
        used_vars[name] = TEMPLATE_VARS[name]
        with open(path, encoding="utf-8", newline="") as f:
            source = f.read()
        template = env.from_string(source)
        summary = []
        for case_name, case in cases.items():
            context = dict(case)
            context.update(TEMPLATE_VARS[name])
            context["_ag_now"] = FIXED_NOW
            try:
                text = template.render(**context)
                ext, payload = "txt", text
            except Exception as e:  # every jinja2 or Python error counts as the expected failure
                ext, payload = "error", str(e)
            summary.append(f"{case_name}={'ok' if ext == 'txt' else 'error'}")
            with open(os.path.join(out_dir, f"{name}.{case_name}.{ext}"), "w", encoding="utf-8", newline="") as f:
                f.write(payload)
        print(f"{name}: {' '.join(summary)}")

    with open(os.path.join(DATA, "template_vars.json"), "w", encoding="utf-8") as f:
        json.dump(used_vars, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
    json_version = jinja2.__version__
    print(f"jinja2 {json_version}: {len(templates)} templates x {len(cases)} cases -> {out_dir}")


if __name__ == "__main__":
    main()
