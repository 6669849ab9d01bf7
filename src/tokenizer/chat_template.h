/*
 * chat_template.h - rendering a model's chat template (the Jinja text a GGUF file keeps under
 * `tokenizer.chat_template`) into the prompt text.
 *
 * The interpreter implements the subset of Jinja that chat templates use and renders them
 * byte-identically to Python jinja2 3.1 configured as Hugging Face transformers'
 * apply_chat_template configures it: ImmutableSandboxedEnvironment(trim_blocks=True,
 * lstrip_blocks=True) with the loopcontrols extension (break/continue), the `tojson` filter as
 * json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...), and the globals
 * raise_exception(message) and strftime_now(format). Values follow Python: True prints "True",
 * None prints "None", lists print like Python's repr, floats like Python's repr; undefined values
 * print as nothing, are false, iterate as empty, and fail when an attribute of them is used.
 *
 * The context is a JSON object whose keys become template variables, typically
 *   {"messages": [...], "tools": [...] or null, "add_generation_prompt": true,
 *    "bos_token": "<s>", "eos_token": "</s>"}
 * JSON integers stay integers and floats stay floats, as Python's json keeps them. The key
 * `_ag_now` ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS") fixes the time strftime_now() formats, for
 * reproducible output; otherwise it is the local time.
 *
 * Hostile templates are bounded: output size, memory, work steps and nesting depth have limits
 * (ag_chat_template_limits), past which the render fails cleanly. Nothing here keeps state
 * between calls; concurrent renders are independent.
 */
#ifndef AG_TOKENIZER_CHAT_TEMPLATE_H
#define AG_TOKENIZER_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"

typedef struct {
    size_t max_output;  /* bytes of rendered text; 0: 16 MiB */
    size_t max_memory;  /* bytes the render may allocate; 0: 256 MiB */
    uint64_t max_steps; /* work units (expressions evaluated, loop iterations, 64-byte copies); 0: 50 million */
    int max_depth;      /* nesting of evaluation, macro recursion included; 0: 1000 */
} ag_chat_template_limits;

/*
 * Renders tmpl[0..tmpl_len) with the variables of the JSON object `context_json` (NUL-terminated).
 * Returns the text, malloc'd and NUL-terminated (free() it), or NULL with err set:
 *   AG_ERR_FORMAT       the template has a syntax error ("template syntax error at line N: ...")
 *   AG_ERR_UNSUPPORTED  a construct this interpreter does not implement ("unsupported filter
 *                       'xyz' at line 12")
 *   AG_ERR_INVALID_ARG  the render failed: raise_exception("msg") gives "template error: msg";
 *                       Python errors give jinja2's message ("template error: 'dict object' has
 *                       no attribute 'content' (line 7)"); also limits, invalid JSON or UTF-8
 *   AG_ERR_NOMEM        out of memory
 */
char *ag_chat_template_render(const char *tmpl, size_t tmpl_len, const char *context_json, ag_error *err);

/* The same with an explicit context length and limits (NULL or zero fields: the defaults). */
char *ag_chat_template_render_ex(const char *tmpl, size_t tmpl_len, const char *context_json, size_t context_len,
                                 const ag_chat_template_limits *limits, ag_error *err);

#endif
