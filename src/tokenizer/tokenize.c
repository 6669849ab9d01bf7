/*
 * tokenize.c - ag_vocab_tokenize: special tokens, BOS/EOS/SEP, and the family's algorithm.
 *
 * The order is the reference implementation's for every family: the text is split at special
 * tokens (partition.c; CONTROL and UNKNOWN pieces only with parse_special, USER_DEFINED always),
 * then, with add_special, the vocabulary's BOS comes first (WordPiece: [CLS]) and EOS last
 * (WordPiece: [SEP]) when the vocabulary asks for them; the text fragments in between go to
 * spm.c, bpe.c or wpm.c.
 */
#include <limits.h>

#include "tokenizer/tokenize_impl.h"

static bool run_family(const ag_vocab *v, const char *text, const ag_fragment_list *frags, ag_tok_sink *sink) {
    switch (v->kind) {
    case AG_VOCAB_SPM: return ag_spm_tokenize_fragments(v, text, frags, true, sink);
    case AG_VOCAB_BPE: return ag_bpe_tokenize_fragments(v, text, frags, sink);
    case AG_VOCAB_WPM: return ag_wpm_tokenize_fragments(v, text, frags, sink);
    }
    return false;
}

int ag_vocab_tokenize(const ag_vocab *v, const char *text, size_t len, ag_token *out, int cap,
                      bool add_special, bool parse_special) {
    if (!v || (!text && len) || cap < 0 || (!out && cap > 0)) return INT32_MIN;
    ag_tok_sink sink = {.out = out, .cap = cap, .n = 0};
    if (add_special && v->add_bos && v->bos >= 0) ag_tok_sink_push(&sink, v->bos);

    ag_fragment_list frags = {0};
    if (ag_partition_special(v, text, len, parse_special, &frags) != AG_OK) return INT32_MIN;
    bool ok = run_family(v, text, &frags, &sink);
    ag_fragment_list_free(&frags);
    if (!ok) return INT32_MIN;

    if (add_special && v->add_eos && v->eos >= 0) ag_tok_sink_push(&sink, v->eos);
    if (add_special && v->kind == AG_VOCAB_WPM && v->add_sep && v->sep >= 0) ag_tok_sink_push(&sink, v->sep);
    if (sink.n > INT32_MAX) return INT32_MIN;
    return sink.n > sink.cap ? -(int)sink.n : (int)sink.n;
}
