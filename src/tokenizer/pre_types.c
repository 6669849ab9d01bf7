/*
 * pre_types.c - the table of pre-tokenizers (see pre_types.h): names -> split patterns and flags.
 *
 * How the patterns reproduce the reference implementation's splitting exactly:
 *   - The reference classifies characters with its own Unicode tables. Its "\s" is the Unicode
 *     White_Space set (tab..CR, space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
 *     U+202F, U+205F, U+3000). PCRE2's \s is a slightly different set, so WS below spells that
 *     set out and \s / \S are written as [WS] / [^WS]. \p{L}, \p{N}, \p{P} are PCRE2's own
 *     (differences only for characters assigned in newer Unicode versions).
 *   - Where the reference rewrites a pattern for its regex engine, we take its rewritten meaning:
 *     "letters except a-z" ((?=\p{L})[^a-z] in the reference) is the class [^\P{L}a-z].
 *   - For patterns without \p{..} the reference matches a copy of the text in which every
 *     non-ASCII whitespace character was replaced by U+000B; such characters therefore never match
 *     a literal range of the pattern. Ranges that contain them (deepseek's CJK and CJK-punctuation
 *     ranges) are written here with those characters left out.
 *   - "\s+$" (deepseek-llm) is written "(?<!\s)\s+$": the same single match (the trailing
 *     whitespace of the piece), without the quadratic retry at every position of a long
 *     whitespace run that is not at the end. $ means the end of the piece only
 *     (PCRE2_DOLLAR_ENDONLY, set by pretok.c).
 *   - The GPT-2 pattern has no final \s+: a single whitespace character before a non-space is
 *     not matched, and the unmatched run between two matches is a piece of its own, which gives
 *     the same pieces as the reference's hand-written splitter.
 */
#include "tokenizer/pre_types.h"

#include <stddef.h>
#include <string.h>

/* ---------------------------------------------------------------- building blocks */

#define WS "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define SPACE "[" WS "]"
#define NOT_SPACE "[^" WS "]"
#define OTHER "[^" WS "\\p{L}\\p{N}]" /* neither space, letter nor number */
#define CONTRACTION_CI "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define UPPERISH "[^\\P{L}a-z]" /* a letter, but not a-z */
#define LOWERISH "[^\\P{L}A-Z]" /* a letter, but not A-Z */
#define NOT_CR_LF_L_N "[^\\r\\n\\p{L}\\p{N}]"

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
#define PAT_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?" OTHER "+|" SPACE "+(?!" NOT_SPACE ")"

/* the Llama 3 / GPT-4 style: case-insensitive contractions, numbers of up to `digits` digits */
#define PAT_LLAMA3_LIKE(digits)                                                                   \
    CONTRACTION_CI "|" NOT_CR_LF_L_N "?\\p{L}+|\\p{N}" digits "| ?" OTHER "+[\\r\\n]*|" SPACE \
    "*[\\r\\n]+|" SPACE "+(?!" NOT_SPACE ")|" SPACE "+"

#define PAT_PUNCT_RUN "[\\p{P}$+<=>^~|]+"

/* deepseek-llm: the cased letters of its tokenizer.json */
#define DS_LETTERS                                                                                         \
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"         \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"  \
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"         \
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"      \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"      \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"                 \
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"                \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"      \
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"        \
    "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"                 \
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"                 \
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"       \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"      \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}" \
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"

/* deepseek: ASCII and full-width punctuation, quotes, U+3001..U+3002 (U+3000 is whitespace) */
#define DS_PUNCT "!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3001}-\\x{3002}"

/* deepseek: U+4E00..U+9FA5, U+0800..U+4E00, U+AC00..U+D7FF, whitespace characters left out */
#define DS_CJK                                                                                    \
    "\\x{4E00}-\\x{9FA5}\\x{800}-\\x{167F}\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}" \
    "\\x{2030}-\\x{205E}\\x{2060}-\\x{2FFF}\\x{3001}-\\x{4E00}\\x{AC00}-\\x{D7FF}"

/* bloom: anything but whitespace and . , ! ? … 。 ， 、 । ۔ ، ( | ) */
#define PAT_BLOOM " ?[^(" WS "|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"

/* ---------------------------------------------------------------- pattern lists */

static const char *const P_DEFAULT[] = {PAT_PUNCT_RUN, PAT_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const P_GPT2[] = {PAT_GPT2, NULL};
static const char *const P_FALCON[] = {PAT_PUNCT_RUN, PAT_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const P_STARCODER[] = {"\\p{N}", PAT_GPT2, NULL};
static const char *const P_LLAMA3[] = {PAT_LLAMA3_LIKE("{1,3}"), NULL};
static const char *const P_QWEN2[] = {PAT_LLAMA3_LIKE(""), NULL};
static const char *const P_DEEPSEEK_LLM[] = {
    "[\\r\\n]",
    SPACE "?[" DS_LETTERS "]+",
    SPACE "?[" DS_PUNCT "]+",
    "(?<!" SPACE ")" SPACE "+$",
    "[" DS_CJK "]+",
    "\\p{N}+",
    NULL,
};
static const char *const P_DEEPSEEK_CODER[] = {
    "[\\r\\n]", SPACE "?\\p{L}+", SPACE "?\\p{P}+", "[" DS_CJK "]+", "\\p{N}", NULL,
};
static const char *const P_BLOOM[] = {PAT_BLOOM, NULL};
static const char *const P_VIKING[] = {PAT_BLOOM, "\\p{N}", NULL};
static const char *const P_TEKKEN[] = {
    NOT_CR_LF_L_N "?" UPPERISH "*" LOWERISH "+|" NOT_CR_LF_L_N "?" UPPERISH "+" LOWERISH "*|\\p{N}| ?" OTHER
    "+[\\r\\n/]*|" SPACE "*[\\r\\n]+|" SPACE "+(?!" NOT_SPACE ")|" SPACE "+",
    NULL,
};
static const char *const P_GPT4O[] = {
    NOT_CR_LF_L_N "?" UPPERISH "*" LOWERISH "+" CONTRACTION_CI "?|" NOT_CR_LF_L_N "?" UPPERISH "+" LOWERISH
    "*" CONTRACTION_CI "?|\\p{N}{1,3}| ?" OTHER "+[\\r\\n/]*|" SPACE "*[\\r\\n]+|" SPACE "+(?!" NOT_SPACE
    ")|" SPACE "+",
    NULL,
};
static const char *const P_CHAMELEON[] = {
    "<sentinel:[0-9]+>",
    "IMGIMG(?:A|B|C|D|E|F|G|H|I){1,4}Z",
    "[\\t\\n]|    |  ",
    "\\p{N}",
    "[\\p{P}!-/:-@\\[-`{-~]",
    PAT_GPT2,
    NULL,
};

/* ---------------------------------------------------------------- the kinds */

enum {
    K_DEFAULT, K_GPT2, K_GPT2_SEP, K_GPT2_MASK, K_GPT2_SEP_MASK, K_FALCON, K_STARCODER, K_LLAMA3,
    K_LLAMA3_PLAIN, K_GLM4, K_QWEN2, K_DEEPSEEK_LLM, K_DEEPSEEK_CODER, K_BLOOM, K_VIKING, K_TEKKEN,
    K_GPT4O, K_CHAMELEON, K_COUNT
};

static const ag_pre_type KINDS[K_COUNT] = {
    [K_DEFAULT] = {.name = "default", .patterns = P_DEFAULT},
    [K_GPT2] = {.name = "gpt-2", .patterns = P_GPT2},
    [K_GPT2_SEP] = {.name = "gpt-2", .patterns = P_GPT2, .add_sep = true},
    [K_GPT2_MASK] = {.name = "gpt-2", .patterns = P_GPT2, .mask_lstrip = true},
    [K_GPT2_SEP_MASK] = {.name = "gpt-2", .patterns = P_GPT2, .add_sep = true, .mask_lstrip = true},
    [K_FALCON] = {.name = "falcon", .patterns = P_FALCON},
    [K_STARCODER] = {.name = "starcoder", .patterns = P_STARCODER},
    [K_LLAMA3] = {.name = "llama3", .patterns = P_LLAMA3, .ignore_merges = true, .add_bos = true},
    [K_LLAMA3_PLAIN] = {.name = "llama3", .patterns = P_LLAMA3},
    [K_GLM4] = {.name = "llama3", .patterns = P_LLAMA3, .no_bos = true},
    [K_QWEN2] = {.name = "qwen2", .patterns = P_QWEN2},
    [K_DEEPSEEK_LLM] = {.name = "deepseek-llm", .patterns = P_DEEPSEEK_LLM},
    [K_DEEPSEEK_CODER] = {.name = "deepseek-coder", .patterns = P_DEEPSEEK_CODER},
    [K_BLOOM] = {.name = "bloom", .patterns = P_BLOOM},
    [K_VIKING] = {.name = "viking", .patterns = P_VIKING},
    [K_TEKKEN] = {.name = "tekken", .patterns = P_TEKKEN, .ignore_merges = true, .add_bos = true},
    [K_GPT4O] = {.name = "gpt-4o", .patterns = P_GPT4O},
    [K_CHAMELEON] = {.name = "chameleon", .patterns = P_CHAMELEON, .add_bos = true},
};

static const struct {
    const char *name;
    int kind;
} NAMES[] = {
    {"default", K_DEFAULT},
    {"gpt-2", K_GPT2}, {"phi-2", K_GPT2}, {"jina-es", K_GPT2}, {"jina-de", K_GPT2}, {"gigachat", K_GPT2},
    {"a.x-4.0", K_GPT2}, {"mellum", K_GPT2}, {"modern-bert", K_GPT2}, {"exaone4", K_GPT2}, {"mpt", K_GPT2},
    {"olmo", K_GPT2}, {"jais", K_GPT2}, {"trillion", K_GPT2}, {"granite-docling", K_GPT2},
    {"jina-v2-es", K_GPT2_MASK}, {"jina-v2-de", K_GPT2_MASK},
    {"jina-v1-en", K_GPT2_SEP}, {"roberta-bpe", K_GPT2_SEP}, {"jina-v2-code", K_GPT2_SEP_MASK},
    {"falcon", K_FALCON},
    {"starcoder", K_STARCODER}, {"refact", K_STARCODER}, {"command-r", K_STARCODER}, {"smollm", K_STARCODER},
    {"codeshell", K_STARCODER}, {"exaone", K_STARCODER}, {"minerva-7b", K_STARCODER}, {"mellum2", K_STARCODER},
    {"llama3", K_LLAMA3}, {"llama-v3", K_LLAMA3}, {"llama-bpe", K_LLAMA3}, {"falcon3", K_LLAMA3},
    {"falcon-h1", K_LLAMA3}, {"pixtral", K_LLAMA3}, {"midm-2.0", K_LLAMA3}, {"lfm2", K_LLAMA3},
    {"jina-v5-nano", K_LLAMA3},
    {"dbrx", K_LLAMA3_PLAIN}, {"smaug-bpe", K_LLAMA3_PLAIN},
    {"glm4", K_GLM4}, {"chatglm-bpe", K_GLM4},
    {"qwen2", K_QWEN2}, {"deepseek-r1-qwen", K_QWEN2}, {"kormo", K_QWEN2}, {"f2llmv2", K_QWEN2},
    {"stablelm2", K_QWEN2}, {"hunyuan", K_QWEN2}, {"solar-open", K_QWEN2}, {"megrez", K_QWEN2},
    {"deepseek-llm", K_DEEPSEEK_LLM},
    {"deepseek-coder", K_DEEPSEEK_CODER},
    {"poro-chat", K_BLOOM}, {"bloom", K_BLOOM}, {"gpt3-finnish", K_BLOOM},
    {"viking", K_VIKING},
    {"tekken", K_TEKKEN},
    {"gpt-4o", K_GPT4O}, {"llama4", K_GPT4O}, {"kanana2", K_GPT4O}, {"talkie", K_GPT4O}, {"minimax-m2", K_GPT4O},
    {"chameleon", K_CHAMELEON},
};

const ag_pre_type *ag_pre_type_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(NAMES[i].name, name) == 0) return &KINDS[NAMES[i].kind];
    return NULL;
}

const ag_pre_type *ag_pre_type_default(void) { return &KINDS[K_DEFAULT]; }
