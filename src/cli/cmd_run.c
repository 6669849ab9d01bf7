/*
 * cmd_run.c - `autoglm run MODEL [PROMPT]`: generate text.
 *
 * With a prompt (or with text piped on stdin) the completion is streamed to stdout once, without
 * the prompt; on a terminal without a prompt it is an interactive loop that keeps the
 * conversation in the session. MODEL is a name of the model store (its PARAMETERs, SYSTEM and
 * TEMPLATE apply, flags override them) or a path to a GGUF file. stdout carries only generated text; everything else goes to
 * stderr. Options follow Ollama's names (num_predict, temperature, top_k ...). --draft DRAFT turns on
 * speculative decoding (cli_draft.c): the same output, the acceptance rate with --verbose.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_draft.h"
#include "store/options.h"
#include "store/store.h"
#include "server/vision.h"
#include "autoglm/image.h"

#define RUN_MAX_IMAGES 16

typedef struct {
    long long num_predict; /* -1: until end of generation or a full context */
    long long num_ctx;     /* 0: the model's default */
    long long threads;     /* 0: all cores */
    bool raw;
    bool verbose;
    bool penalty_given; /* --repeat-penalty was on the command line */
    const char *system;  /* --system: a system message for chat mode */
    const char *trusted_keys; /* --trusted-keys: refuse models not signed by a key there */
    bool require_signed;
    bool truncate;        /* --truncate: drop the prompt's beginning when it does not fit */
    const char *kv_type;  /* --kv-type (default: the model's PARAMETER kv_type, AUTOGLM_KV_CACHE_TYPE, else f16) */
    char kv_type_param[8]; /* the store model's PARAMETER kv_type, or "" */
    cli_power_opts power; /* --batch-size, --power, --max-tps */
    cli_device_opts dev; /* --device, --gpu-layers */
    ag_sampler_params sp;
    const char *draft; /* --draft: a draft model for speculative decoding */
    long long draft_max;
    cli_draft *dr; /* the loaded draft, or NULL */
    const char *images[RUN_MAX_IMAGES]; /* --image FILE, in order */
    int n_images;
    const char *mmproj; /* --mmproj FILE: the vision projector (a model given by path) */
} run_opts;

/* The images of a conversation (--image): they go with the first prompt, as "[img-N]" tags that
 * become the model's image markers after the chat template (server/vision.h), and stay in the
 * conversation: later turns render them again and keep their cached positions. */
typedef struct {
    ag_vision *v;            /* NULL: no images */
    ag_image *images;        /* decoded files (n) */
    int n;
    bool tagged;             /* the first user message carries the tags */
    ag_image_patches *patches; /* preprocessed, in prompt order (after the first prompt) */
    int n_image_tokens;      /* of the last prompt */
} run_images;

typedef struct {
    double load_s;
    int prompt_n;
    double prompt_s;
    int eval_n;
    double eval_s;
} run_stats;

static void usage(FILE *out) {
    fputs("usage: autoglm run MODEL [PROMPT] [options]\n"
          "  --num-predict N      tokens to generate (-1: until the end, default)\n"
          "  --temperature T      0 = greedy, without repeat penalty unless given (default 0.8)\n"
          "  --top-k N            (default 40; 0 = off)\n"
          "  --top-p P            (default 0.9)\n"
          "  --min-p P            (default 0.0)\n"
          "  --repeat-penalty R   (default 1.1)\n"
          "  --repeat-last-n N    (default 64; -1 = num_ctx)\n"
          "  --seed N             (default: random)\n"
          "  --num-ctx N          context length (default: the model's, at most 4096)\n"
          "  --threads N          (default: all cores)\n"
          "  --batch-size N       prompt tokens per forward pass (default 512)\n"
          "  --power MODE         performance (default), balanced or powersave\n"
          "  --max-tps T          cap the token rate (tokens/s; default: none)\n"
          CLI_DEVICE_USAGE
          "  --raw                no chat template: the prompt goes to the model as it is\n"
          "  --system TEXT        a system message (chat mode)\n"
          "  --kv-type T          KV cache type: f16 (default), f32, q8_0 or q4_0 (CPU; head size a multiple of 32)\n"
          "  --truncate           a prompt longer than the context keeps its newest tokens (default: an error)\n"
          "  --verbose            timings on stderr\n"
          "  --draft DRAFT        speculative decoding with a draft model of the same vocabulary\n"
          "  --image FILE         a PNG or JPEG image with the prompt (repeatable; models with a vision projector)\n"
          "  --mmproj FILE        the vision projector of a model given by path (`convert --mmproj` wrote it)\n"
          "  --draft-max N        tokens the draft proposes per step (default 8)\n"
          "  --require-signed --trusted-keys DIR\n"
          "                       refuse a model without a valid signature (MODEL.sig) by a key in DIR\n",
          out);
}

static int parse_opts(int argc, char **argv, run_opts *o, int *first_arg, const cJSON *params) {
    enum { O_NP = 1, O_TEMP, O_TOPK, O_TOPP, O_MINP, O_RP, O_RLN, O_SEED, O_CTX, O_THR, O_RAW, O_VERB, O_HELP, O_SYS, O_REQSIG, O_TRUST, O_BATCH, O_POWER, O_MAXTPS, O_DEV, O_NGL, O_KVT, O_TRUNC, O_DRAFT, O_DMAX, O_IMAGE, O_MMPROJ };
    static const struct option longopts[] = {
        {"num-predict", required_argument, 0, O_NP},     {"temperature", required_argument, 0, O_TEMP},
        {"top-k", required_argument, 0, O_TOPK},         {"top-p", required_argument, 0, O_TOPP},
        {"min-p", required_argument, 0, O_MINP},         {"repeat-penalty", required_argument, 0, O_RP},
        {"repeat-last-n", required_argument, 0, O_RLN},  {"seed", required_argument, 0, O_SEED},
        {"num-ctx", required_argument, 0, O_CTX},        {"threads", required_argument, 0, O_THR},
        {"raw", no_argument, 0, O_RAW},                  {"verbose", no_argument, 0, O_VERB},
        {"help", no_argument, 0, O_HELP},                {"system", required_argument, 0, O_SYS},
        {"require-signed", no_argument, 0, O_REQSIG},    {"trusted-keys", required_argument, 0, O_TRUST},
        {"batch-size", required_argument, 0, O_BATCH},   {"power", required_argument, 0, O_POWER},
        {"max-tps", required_argument, 0, O_MAXTPS},
        {"device", required_argument, 0, O_DEV},         {"gpu-layers", required_argument, 0, O_NGL},
        {"kv-type", required_argument, 0, O_KVT},        {"truncate", no_argument, 0, O_TRUNC},
        {"draft", required_argument, 0, O_DRAFT},        {"draft-max", required_argument, 0, O_DMAX},
        {"image", required_argument, 0, O_IMAGE},        {"mmproj", required_argument, 0, O_MMPROJ},
        {0, 0, 0, 0}};
    o->num_predict = -1;
    o->draft_max = 8;
    o->n_images = 0;
    o->sp = ag_sampler_default_params();
    if (params) { /* the model's PARAMETERs, under the flags */
        gen_options g;
        gen_options_default(&g);
        st_error e = {0};
        if (gen_options_apply(&g, params, &e)) fprintf(stderr, "autoglm: model parameters: %s\n", e.msg);
        o->num_predict = g.num_predict;
        o->num_ctx = g.num_ctx;
        if (g.num_thread > 0) o->threads = g.num_thread;
        if (g.kv_type[0]) snprintf(o->kv_type_param, sizeof o->kv_type_param, "%s", g.kv_type);
        o->sp = g.sp;
        o->penalty_given = g.penalty_given;
        gen_options_free(&g);
    }
    long long v;
    double d;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1 || optind < argc) {
        if (c == -1) { /* a positional argument: skip it and keep parsing options after it */
            optind++;
            continue;
        }
        const char *a = optarg;
        switch (c) {
        case O_NP: if (!cli_parse_int("--num-predict", a, -2, 1 << 30, &o->num_predict)) return CLI_EXIT_USAGE; break;
        case O_TEMP: if (!cli_parse_float("--temperature", a, 0, 100, &d)) return CLI_EXIT_USAGE; o->sp.temperature = (float)d; break;
        case O_TOPK: if (!cli_parse_int("--top-k", a, 0, 1 << 30, &v)) return CLI_EXIT_USAGE; o->sp.top_k = (int)v; break;
        case O_TOPP: if (!cli_parse_float("--top-p", a, 0, 1, &d)) return CLI_EXIT_USAGE; o->sp.top_p = (float)d; break;
        case O_MINP: if (!cli_parse_float("--min-p", a, 0, 1, &d)) return CLI_EXIT_USAGE; o->sp.min_p = (float)d; break;
        case O_RP: if (!cli_parse_float("--repeat-penalty", a, 0, 100, &d)) return CLI_EXIT_USAGE; o->sp.repeat_penalty = (float)d; o->penalty_given = true; break;
        case O_RLN: if (!cli_parse_int("--repeat-last-n", a, -1, 1 << 30, &v)) return CLI_EXIT_USAGE; o->sp.repeat_last_n = (int)v; break;
        case O_SEED: if (!cli_parse_int("--seed", a, -1, INT64_MAX, &v)) return CLI_EXIT_USAGE; o->sp.seed = v < 0 ? AG_SEED_RANDOM : (uint64_t)v; break;
        case O_CTX: if (!cli_parse_int("--num-ctx", a, 1, 1 << 20, &o->num_ctx)) return CLI_EXIT_USAGE; break;
        case O_THR: if (!cli_parse_int("--threads", a, 1, 1024, &o->threads)) return CLI_EXIT_USAGE; break;
        case O_RAW: o->raw = true; break;
        case O_VERB: o->verbose = true; break;
        case O_KVT: o->kv_type = a; break;
        case O_TRUNC: o->truncate = true; break;
        case O_SYS: o->system = a; break;
        case O_REQSIG: o->require_signed = true; break;
        case O_TRUST: o->trusted_keys = a; break;
        case O_BATCH: if (!cli_parse_int("--batch-size", a, 1, 1 << 16, &o->power.batch)) return CLI_EXIT_USAGE; break;
        case O_POWER:
            if (ag_power_mode_from_name(a) < 0) {
                fprintf(stderr, "autoglm run: --power: '%s' is not performance, balanced or powersave\n", a);
                return CLI_EXIT_USAGE;
            }
            o->power.power = a;
            break;
        case O_DRAFT: o->draft = a; break;
        case O_DMAX: if (!cli_parse_int("--draft-max", a, 1, 64, &o->draft_max)) return CLI_EXIT_USAGE; break;
        case O_IMAGE:
            if (o->n_images == RUN_MAX_IMAGES) {
                fprintf(stderr, "autoglm run: at most %d --image files\n", RUN_MAX_IMAGES);
                return CLI_EXIT_USAGE;
            }
            o->images[o->n_images++] = a;
            break;
        case O_MMPROJ: o->mmproj = a; break;
        case O_MAXTPS: if (!cli_parse_float("--max-tps", a, 0, 1e9, &o->power.max_tps)) return CLI_EXIT_USAGE; break;
        case O_DEV:
        case O_NGL: {
            char *fv[3] = {NULL, (char *)(c == O_DEV ? "--device" : "--gpu-layers"), (char *)a};
            int k = 1;
            if (cli_device_flag(3, fv, &k, &o->dev) < 0) return CLI_EXIT_USAGE;
            break;
        }
        case O_HELP: usage(stdout); return -1;
        default:
            fprintf(stderr, "autoglm run: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (o->require_signed && !o->trusted_keys) {
        fprintf(stderr, "autoglm run: --require-signed needs --trusted-keys DIR\n");
        return CLI_EXIT_USAGE;
    }
    /* temperature 0 means plain greedy decoding: the repeat penalty applies only when asked for */
    if (o->sp.temperature == 0 && !o->penalty_given) o->sp.repeat_penalty = 1.0f;
    *first_arg = 1;
    return CLI_EXIT_OK;
}

/* Positional arguments (not options or their values), in order. */
static int positionals(int argc, char **argv, char **out) {
    static const char *const with_value[] = {"--num-predict", "--temperature", "--top-k", "--top-p",
                                             "--min-p", "--repeat-penalty", "--repeat-last-n",
                                             "--seed", "--num-ctx", "--threads", "--system", "--trusted-keys",
                                             "--batch-size", "--power", "--max-tps",
                                             "--device", "--gpu-layers", "--kv-type", "--draft", "--draft-max",
                                             "--image", "--mmproj"};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if (strcmp(argv[i], "--") == 0) {
                while (++i < argc) out[n++] = argv[i];
                break;
            }
            if (!strchr(argv[i], '='))
                for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
                    if (strcmp(argv[i], with_value[k]) == 0) i++;
            continue;
        }
        out[n++] = argv[i];
    }
    return n;
}

/* Generates after the prompt tokens; streams to stdout. Returns 0 or an exit status. */
/* What the session holds and the conversation so far (chat mode). */
typedef struct {
    ag_token *hist;       /* tokens in the session's cache, in order */
    int n_hist, cap_hist;
    ag_chat_message *msgs; /* owned role/content strings */
    int n_msgs, cap_msgs;
    bool templated;       /* prompts go through the chat template */
    const char *tmpl;     /* the store's TEMPLATE overriding the model's, or NULL */
    char *reply;          /* text of the last generation */
    size_t reply_len;
    run_images *vis;      /* the images (--image), or NULL */
} conversation;

static bool push_token(conversation *c, ag_token t) {
    if (c->n_hist == c->cap_hist) {
        int cap = c->cap_hist ? 2 * c->cap_hist : 256;
        ag_token *p = realloc(c->hist, (size_t)cap * sizeof *p);
        if (!p) return false;
        c->hist = p;
        c->cap_hist = cap;
    }
    c->hist[c->n_hist++] = t;
    return true;
}

static bool push_message(conversation *c, const char *role, const char *content) {
    if (c->n_msgs == c->cap_msgs) {
        int cap = c->cap_msgs ? 2 * c->cap_msgs : 8;
        ag_chat_message *p = realloc(c->msgs, (size_t)cap * sizeof *p);
        if (!p) return false;
        c->msgs = p;
        c->cap_msgs = cap;
    }
    c->msgs[c->n_msgs].role = strdup(role);
    c->msgs[c->n_msgs].content = strdup(content);
    return c->msgs[c->n_msgs].role && c->msgs[c->n_msgs++].content;
}

static void append_reply(conversation *c, const char *text, size_t len) {
    char *p = realloc(c->reply, c->reply_len + len + 1);
    if (!p) return;
    memcpy(p + c->reply_len, text, len);
    c->reply_len += len;
    p[c->reply_len] = '\0';
    c->reply = p;
}

static void conversation_free(conversation *c) {
    for (int i = 0; i < c->n_msgs; i++) {
        free((char *)c->msgs[i].role);
        free((char *)c->msgs[i].content);
    }
    free(c->msgs);
    free(c->hist);
    free(c->reply);
}

/* generate() with speculative decoding: the draft proposes, the target verifies (cli_draft.c). */
static int generate_draft(ag_model *m, ag_sampler *smp, const ag_token *prompt, int n_prompt, const run_opts *o,
                          run_stats *st, conversation *conv) {
    ag_error err = {0};
    double t0 = cli_now();
    for (int i = 0; i < n_prompt; i++) ag_sampler_accept(smp, prompt[i]), push_token(conv, prompt[i]);
    if (ag_speculative_feed(o->dr->spec, prompt, n_prompt, &err)) {
        fprintf(stderr, "autoglm: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    st->prompt_n += n_prompt;
    st->prompt_s += cli_now() - t0;
    conv->reply_len = 0;
    ag_detok *dt = ag_detok_new(m);
    if (!dt) return CLI_EXIT_FAIL;
    t0 = cli_now();
    int rc = CLI_EXIT_OK;
    ag_token out[65];
    for (long long produced = 0, limit = o->num_predict; limit < 0 || produced < limit;) {
        const int cap = limit < 0 || limit - produced > 65 ? 65 : (int)(limit - produced);
        const int n = ag_speculative_step(o->dr->spec, smp, out, cap, &err);
        if (n < 1) {
            if (err.code == AG_ERR_CONTEXT_FULL) {
                if (o->verbose) fprintf(stderr, "\nautoglm: context full (%d tokens)\n", ag_session_n_ctx(o->dr->session));
            } else fprintf(stderr, "\nautoglm: %s\n", err.msg), rc = CLI_EXIT_FAIL;
            break;
        }
        int i = 0;
        for (; i < n && !ag_token_is_eog(m, out[i]); i++) {
            size_t len;
            const char *text = ag_detok_push(dt, out[i], &len);
            fwrite(text, 1, len, stdout);
            append_reply(conv, text, len);
            push_token(conv, out[i]);
        }
        fflush(stdout);
        st->eval_n += n;
        produced += n;
        if (i < n) break; /* end of generation */
    }
    size_t len;
    const char *rest = ag_detok_flush(dt, &len);
    fwrite(rest, 1, len, stdout);
    append_reply(conv, rest, len);
    fflush(stdout);
    ag_detok_free(dt);
    st->eval_s += cli_now() - t0;
    return rc;
}

static int generate(ag_model *m, ag_session *s, ag_sampler *smp, const ag_token *prompt, int n_prompt,
                    const run_opts *o, run_stats *st, conversation *conv) {
    if (o->dr) return generate_draft(m, smp, prompt, n_prompt, o, st, conv);
    ag_error err = {0};
    double t0 = cli_now();
    for (int i = 0; i < n_prompt; i++) ag_sampler_accept(smp, prompt[i]);
    run_images *vis = conv->vis;
    int skip = 0; /* images whose runs the cache already holds (before the new tokens) */
    for (int i = 0; vis && vis->patches && i < conv->n_hist; i++)
        skip += conv->hist[i] == ag_vision_image_token(vis->v) && (i == 0 || conv->hist[i - 1] != conv->hist[i]);
    ag_status est = vis && vis->patches ? ag_session_eval_images(s, vis->v, prompt, n_prompt, vis->patches + skip, vis->n - skip, false, NULL, &err)
                                        : ag_session_eval(s, prompt, n_prompt, false, &err);
    if (est) {
        fprintf(stderr, "autoglm: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < n_prompt; i++) push_token(conv, prompt[i]);
    st->prompt_n += n_prompt;
    st->prompt_s += cli_now() - t0;
    conv->reply_len = 0;
    ag_detok *dt = ag_detok_new(m);
    if (!dt) return CLI_EXIT_FAIL;
    t0 = cli_now();
    long long limit = o->num_predict;
    for (long long produced = 0; limit < 0 || produced < limit; produced++) {
        ag_token tok = ag_sampler_sample(smp, ag_session_logits(s, -1));
        st->eval_n++;
        if (ag_token_is_eog(m, tok)) break;
        ag_sampler_accept(smp, tok);
        size_t len;
        const char *text = ag_detok_push(dt, tok, &len);
        fwrite(text, 1, len, stdout);
        append_reply(conv, text, len);
        fflush(stdout);
        if (limit >= 0 && produced + 1 >= limit) break;
        if (ag_session_n_past(s) >= ag_session_n_ctx(s)) {
            if (o->verbose) fprintf(stderr, "\nautoglm: context full (%d tokens)\n", ag_session_n_ctx(s));
            break;
        }
        push_token(conv, tok);
        if (ag_session_eval(s, &tok, 1, false, &err)) {
            fprintf(stderr, "\nautoglm: %s\n", err.msg);
            ag_detok_free(dt);
            return CLI_EXIT_FAIL;
        }
    }
    size_t len;
    const char *rest = ag_detok_flush(dt, &len);
    fwrite(rest, 1, len, stdout);
    append_reply(conv, rest, len);
    fflush(stdout);
    ag_detok_free(dt);
    st->eval_s += cli_now() - t0;
    return CLI_EXIT_OK;
}

/* Resident memory from /proc/self/status: file-backed pages are the mmapped weights, anonymous
 * pages are what the process allocated (KV cache, scratch). */
static void print_memory(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    long rss = -1, file = -1, anon = -1;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "VmHWM: %ld", &rss);
        sscanf(line, "RssFile: %ld", &file);
        sscanf(line, "RssAnon: %ld", &anon);
    }
    fclose(f);
    if (rss >= 0)
        fprintf(stderr, "memory:               peak rss %.1f MiB (now: mapped weights %.1f MiB, allocated %.1f MiB)\n",
                rss / 1024.0, file / 1024.0, anon / 1024.0);
}

static void print_stats(const run_stats *st, double total_s) {
    fprintf(stderr, "\ntotal duration:       %.6fs\n", total_s);
    fprintf(stderr, "load duration:        %.6fs\n", st->load_s);
    fprintf(stderr, "prompt eval count:    %d token(s)\n", st->prompt_n);
    fprintf(stderr, "prompt eval duration: %.6fs\n", st->prompt_s);
    fprintf(stderr, "prompt eval rate:     %.2f tokens/s\n", st->prompt_s > 0 ? st->prompt_n / st->prompt_s : 0);
    fprintf(stderr, "eval count:           %d token(s)\n", st->eval_n);
    fprintf(stderr, "eval duration:        %.6fs\n", st->eval_s);
    fprintf(stderr, "eval rate:            %.2f tokens/s\n", st->eval_s > 0 ? st->eval_n / st->eval_s : 0);
    print_memory();
}

/* The conversation rendered with the store's TEMPLATE when there is one, else the model's. */
static char *format_chat(const ag_model *m, const conversation *c, const char **source, ag_error *err) {
    if (!c->tmpl) return ag_chat_format(m, c->msgs, c->n_msgs, true, source, err);
    if (source) *source = "store";
    cJSON *ctx = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(ctx, "messages");
    for (int i = 0; i < c->n_msgs; i++) {
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", c->msgs[i].role);
        cJSON_AddStringToObject(msg, "content", c->msgs[i].content);
        cJSON_AddItemToArray(arr, msg);
    }
    cJSON_AddBoolToObject(ctx, "add_generation_prompt", true);
    char *json = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);
    char *out = json ? ag_chat_format_custom(m, c->tmpl, json, err) : NULL;
    free(json);
    return out;
}

/* Tokens of the next prompt. Chat mode renders the whole conversation (with the new user
 * message) and keeps the part of the session's cache that it shares; raw mode appends the text,
 * with BOS only at the start. Returns the new tokens to evaluate, or NULL. */
/* The user's text with the tags of the conversation's images, the first time (malloc'd). */
static char *with_image_tags(conversation *c, const char *text, size_t len) {
    char *t = strndup(text, len);
    if (!t || !c->vis || c->vis->tagged) return t;
    int ids[RUN_MAX_IMAGES];
    for (int i = 0; i < c->vis->n; i++) ids[i] = i;
    char *tagged = vision_tag_content(t, ids, c->vis->n);
    free(t);
    c->vis->tagged = tagged != NULL;
    return tagged;
}

/* The rendered prompt's image tags as image markers, its tokens with each image's placeholder
 * expanded (the images preprocessed the first time). Takes text; NULL after a message. */
static ag_token *tokenize_with_images(ag_model *m, conversation *c, char *text, bool add_bos, int *n) {
    run_images *vis = c->vis;
    int order[RUN_MAX_IMAGES], status = 0;
    char msg[512];
    if (vis) {
        char *placed = vision_place_images(text, vis->n, order, msg, sizeof msg, &status);
        free(text);
        if (!placed) {
            fprintf(stderr, "autoglm: %s\n", msg);
            return NULL;
        }
        text = placed;
    }
    ag_token *ids = cli_tokenize(m, text, strlen(text), add_bos, true, n);
    free(text);
    if (!ids || !vis) return ids;
    if (!vis->patches && (status = vision_preprocess(vis->v, vis->images, order, vis->n, &vis->patches, msg, sizeof msg))) {
        fprintf(stderr, "autoglm: %s\n", msg);
        free(ids);
        return NULL;
    }
    ag_token *expanded = NULL;
    status = vision_expand(vis->v, vis->patches, vis->n, ids, *n, &expanded, n, &vis->n_image_tokens, msg, sizeof msg);
    free(ids);
    if (status) fprintf(stderr, "autoglm: %s\n", msg);
    return expanded;
}

/* Tokens of the next prompt. Chat mode renders the whole conversation (with the new user
 * message) and keeps the part of the session's cache that it shares; raw mode appends the text,
 * with BOS only at the start. Returns the new tokens to evaluate, or NULL. */
static ag_token *next_prompt(ag_model *m, ag_session *s, conversation *c, const char *text, size_t len, int *n_new) {
    char *user = with_image_tags(c, text, len);
    if (!user) return NULL;
    if (!c->templated) {
        int n = 0;
        ag_token *ids = tokenize_with_images(m, c, user, ag_session_n_past(s) == 0, &n);
        *n_new = n;
        return ids;
    }
    bool pushed = push_message(c, "user", user);
    free(user);
    if (!pushed) return NULL;
    ag_error err = {0};
    char *prompt = format_chat(m, c, NULL, &err);
    if (!prompt) {
        fprintf(stderr, "autoglm: chat template: %s\n", err.msg);
        return NULL;
    }
    /* the template may write BOS itself; add it only when it does not */
    char bos[64];
    int bl = ag_token_bos(m) >= 0 ? ag_token_to_piece(m, ag_token_bos(m), bos, (int)sizeof bos, true) : 0;
    bool add_bos = bl <= 0 || strncmp(prompt, bos, (size_t)bl) != 0;
    int n = 0;
    ag_token *ids = tokenize_with_images(m, c, prompt, add_bos, &n);
    if (!ids) return NULL;
    int keep = 0; /* common prefix with what the cache holds (the same images: the conversation's) */
    while (keep < c->n_hist && keep < n && keep < ag_session_n_past(s) && c->hist[keep] == ids[keep]) keep++;
    if (keep == n) keep = n - 1; /* re-evaluate at least one token to get logits */
    ag_session_truncate(s, keep);
    c->n_hist = keep;
    memmove(ids, ids + keep, (size_t)(n - keep) * sizeof *ids);
    *n_new = n - keep;
    return ids;
}

static int run_prompt(ag_model *m, ag_session *s, ag_sampler *smp, const char *text, size_t len,
                      const run_opts *o, run_stats *st, conversation *conv) {
    int n = 0;
    ag_token *ids = next_prompt(m, s, conv, text, len, &n);
    if (!ids) return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_OK;
    const int fit = ag_session_n_ctx(s) - ag_session_n_past(s) - 1; /* room for one reply token */
    bool cuts_image = false; /* --truncate never drops image tokens */
    for (int i = 0; conv->vis && n > fit && i < n - fit; i++) cuts_image |= ids[i] == ag_vision_image_token(conv->vis->v);
    char images[96] = "";
    if (conv->vis && conv->vis->n_image_tokens)
        snprintf(images, sizeof images, " (%d of them for %d image(s))", conv->vis->n_image_tokens, conv->vis->n);
    if (n == 0) {
        fprintf(stderr, "autoglm: the prompt is empty\n");
        rc = CLI_EXIT_USAGE;
    } else if (n > fit && cuts_image) {
        fprintf(stderr, "autoglm: the prompt is %d tokens%s, longer than the context allows (num_ctx %d, %d used)%s\n", n,
                images, ag_session_n_ctx(s), ag_session_n_past(s), o->truncate ? "; --truncate would cut an image" : "");
        rc = CLI_EXIT_FAIL;
    } else if (n >= ag_session_n_ctx(s) - ag_session_n_past(s) && o->truncate && ag_session_n_ctx(s) - ag_session_n_past(s) > 1) {
        fprintf(stderr, "autoglm: the prompt is %d tokens, the context %d (%d used): dropped its first %d tokens (--truncate)\n",
                n, ag_session_n_ctx(s), ag_session_n_past(s), n - fit);
        memmove(ids, ids + (n - fit), (size_t)fit * sizeof *ids);
        rc = generate(m, s, smp, ids, fit, o, st, conv);
    } else if (n >= ag_session_n_ctx(s) - ag_session_n_past(s)) {
        fprintf(stderr, "autoglm: the prompt is %d tokens, longer than the context allows (num_ctx %d, %d used; --truncate keeps its newest tokens)\n",
                n, ag_session_n_ctx(s), ag_session_n_past(s));
        rc = CLI_EXIT_FAIL;
    } else {
        rc = generate(m, s, smp, ids, n, o, st, conv);
        if (rc == CLI_EXIT_OK && conv->templated) push_message(conv, "assistant", conv->reply ? conv->reply : "");
    }
    free(ids);
    return rc;
}

static int interactive(ag_model *m, ag_session *s, ag_sampler *smp, const run_opts *o, run_stats *st,
                       conversation *conv) {
    char *line = NULL;
    size_t cap = 0;
    int rc = CLI_EXIT_OK;
    for (;;) {
        fputs(">>> ", stderr);
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (strcmp(line, "/bye") == 0) break;
        if (n == 0) continue;
        rc = run_prompt(m, s, smp, line, (size_t)n, o, st, conv);
        fputs("\n\n", stdout);
        fflush(stdout);
        if (rc == CLI_EXIT_FAIL && ag_session_n_past(s) >= ag_session_n_ctx(s) - 1) break;
    }
    free(line);
    return rc;
}

int cmd_run(int argc, char **argv) {
    run_opts o = {.dev = CLI_DEVICE_OPTS_INIT};
    int first = 0;
    int rc = parse_opts(argc, argv, &o, &first, NULL);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) return CLI_EXIT_FAIL;
    int n_pos = positionals(argc, argv, pos);
    if (n_pos < 1) {
        fprintf(stderr, "autoglm run: missing MODEL\n");
        usage(stderr);
        free(pos);
        return CLI_EXIT_USAGE;
    }
    double t_start = cli_now();
    run_stats st = {0};
    /* images first: a bad file is reported before any model is read */
    ag_image images[RUN_MAX_IMAGES] = {{0}};
    for (int i = 0; i < o.n_images; i++) {
        ag_error ierr = {0};
        if (ag_image_load_file(o.images[i], &images[i], &ierr) != AG_OK) {
            fprintf(stderr, "autoglm: image %d: %s\n", i + 1, ierr.msg);
            for (int k = 0; k < i; k++) ag_image_free(&images[k]);
            free(pos);
            return CLI_EXIT_FAIL;
        }
    }
    store_manifest man = {0};
    char verr[512] = "";
    bool resolved = cli_resolve_model(pos[0], &man);
    if (resolved && o.mmproj) { /* --mmproj: the projector of this run (over the manifest's) */
        free(man.projector);
        man.projector = NULL;
        if (!store_is_projector(o.mmproj)) snprintf(verr, sizeof verr, "--mmproj %s: not a vision projector file (a GGUF of architecture \"clip\")", o.mmproj);
        else if (!(man.projector = strdup(o.mmproj))) snprintf(verr, sizeof verr, "out of memory");
    }
    if (!verr[0] && o.n_images > 0 && o.draft) snprintf(verr, sizeof verr, "--draft does not take images yet (--image)");
    if (!resolved || verr[0] || (o.n_images > 0 && vision_check(&man, pos[0], verr, sizeof verr))) {
        if (verr[0]) fprintf(stderr, "autoglm: %s\n", verr);
        for (int k = 0; k < o.n_images; k++) ag_image_free(&images[k]);
        store_manifest_free(&man);
        free(pos);
        return CLI_EXIT_FAIL;
    }
    if (man.params) parse_opts(argc, argv, &o, &first, man.params); /* flags over the model's parameters */
    if (!o.system) o.system = man.system;
    ag_model_params mp = {.n_threads = (int)o.threads, .trusted_keys = o.trusted_keys};
    cli_device_apply(&o.dev, &mp);
    cli_device_for_kv(&mp, o.kv_type ? o.kv_type : o.kv_type_param[0] ? o.kv_type_param : getenv("AUTOGLM_KV_CACHE_TYPE"));
    ag_model *m = cli_load_model_ex(man.path, &mp);
    run_images vis = {.images = images, .n = o.n_images};
    if (m && o.n_images > 0) { /* the projector, for the images */
        ag_error verr2 = {0};
        if (!(vis.v = ag_vision_load(man.projector, m, &verr2))) {
            fprintf(stderr, "autoglm: vision projector %s: %s\n", man.projector, verr2.msg);
            ag_model_free(m);
            m = NULL;
        }
    }
    if (!m) {
        for (int k = 0; k < o.n_images; k++) ag_image_free(&images[k]);
        store_manifest_free(&man);
        free(pos);
        return CLI_EXIT_FAIL;
    }
    conversation conv = {.tmpl = man.tmpl};
    if (!o.raw) { /* chat mode when the model has a template or a known family format */
        const char *source = "none";
        ag_error terr = {0};
        if (!push_message(&conv, "user", "hi")) rc = CLI_EXIT_FAIL;
        char *t = format_chat(m, &conv, &source, &terr);
        conversation_free(&conv);
        conv = (conversation){.tmpl = man.tmpl};
        conv.templated = t != NULL;
        free(t);
        if (!t && strcmp(source, "none") != 0) {
            fprintf(stderr, "autoglm: cannot use the model's chat template: %s\n(--raw sends the prompt as it is)\n", terr.msg);
            rc = CLI_EXIT_FAIL;
        }
        if (o.system && conv.templated) push_message(&conv, "system", o.system);
        if (o.n_images > 0 && !conv.templated && strcmp(source, "none") == 0 && o.verbose)
            fprintf(stderr, "autoglm: no chat template: the images go before the prompt\n");
        if (o.verbose) {
            if (conv.templated) fprintf(stderr, "autoglm: chat template: %s\n", source);
            else if (strcmp(source, "none") == 0)
                fprintf(stderr, "autoglm: the model has no chat template and no known chat format: using the prompt as it is\n");
        }
    }
    if (vis.v) conv.vis = &vis;
    ag_error err = {0};
    ag_session_params sp = {.n_ctx = (int)o.num_ctx, .n_batch = (int)o.power.batch, .n_threads = (int)o.threads,
                            .kv_type = o.kv_type ? o.kv_type : o.kv_type_param[0] ? o.kv_type_param : getenv("AUTOGLM_KV_CACHE_TYPE")};
    ag_session *s = ag_session_new(m, &sp, &err);
    if (s && !cli_apply_power(s, &o.power)) rc = CLI_EXIT_FAIL;
    ag_sampler *smp = s ? ag_sampler_new(&o.sp, ag_model_n_vocab(m), ag_session_n_ctx(s)) : NULL;
    cli_draft draft = {0};
    if (s && o.draft && rc == CLI_EXIT_OK) {
        if (cli_draft_open(&draft, m, s, o.draft, (int)o.draft_max, (int)o.threads)) o.dr = &draft;
        else rc = CLI_EXIT_FAIL;
    }
    st.load_s = cli_now() - t_start;
    if (rc != CLI_EXIT_OK) {
        /* reported above */
    } else if (!s || !smp) {
        fprintf(stderr, "autoglm: %s\n", s ? "out of memory" : err.msg);
        rc = CLI_EXIT_FAIL;
    } else if (n_pos >= 2) {
        size_t len = 0; /* the prompt is the remaining arguments joined by spaces */
        for (int i = 1; i < n_pos; i++) len += strlen(pos[i]) + 1;
        char *prompt = malloc(len + 1);
        if (!prompt) rc = CLI_EXIT_FAIL;
        else {
            prompt[0] = '\0';
            for (int i = 1; i < n_pos; i++) {
                if (i > 1) strcat(prompt, " ");
                strcat(prompt, pos[i]);
            }
            rc = run_prompt(m, s, smp, prompt, strlen(prompt), &o, &st, &conv);
            free(prompt);
        }
        if (rc == CLI_EXIT_OK) fputc('\n', stdout);
    } else if (!isatty(STDIN_FILENO)) {
        size_t len = 0;
        char *prompt = cli_read_file("-", &len);
        rc = prompt ? run_prompt(m, s, smp, prompt, len, &o, &st, &conv) : CLI_EXIT_FAIL;
        if (rc == CLI_EXIT_OK) fputc('\n', stdout);
        free(prompt);
    } else {
        rc = interactive(m, s, smp, &o, &st, &conv);
    }
    if (o.verbose && rc == CLI_EXIT_OK) {
        print_stats(&st, cli_now() - t_start);
        if (s) fprintf(stderr, "kv cache:             %s, %zu bytes/token\n", sp.kv_type ? sp.kv_type : "f16", ag_session_kv_bytes_per_token(s));
    }
    if (o.verbose && rc == CLI_EXIT_OK && o.dr) cli_draft_print_stats(o.dr);
    cli_draft_close(&draft);
    conversation_free(&conv);
    ag_sampler_free(smp);
    ag_session_free(s);
    vision_patches_free(vis.patches, vis.n);
    ag_vision_free(vis.v); /* before the model it refers to */
    for (int k = 0; k < o.n_images; k++) ag_image_free(&images[k]);
    ag_model_free(m);
    store_manifest_free(&man);
    free(pos);
    return rc;
}
