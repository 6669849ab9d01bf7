/*
 * speculative.c - speculative decoding (include/autoglm/speculative.h): the draft session
 * proposes tokens greedily, the target session verifies them in one ag_session_eval with all
 * logits, both caches are rolled back (ag_session_truncate) to what was accepted.
 *
 * State: hist[0..n_hist) is the sequence; the target holds hist[0..n_hist-1) in its cache and
 * hist[n_hist-1] is the pending token (generated, not yet evaluated) - except right after a feed,
 * when the target has evaluated every fed token in one pass, exactly as decoding without a draft
 * reads a prompt (so that the prompt's last position gets the same bits: prefill kernels and
 * few-token kernels may sum differently), and the next step first picks from those logits
 * (pick_first). The draft holds a prefix of the target's positions (it lags by at most one
 * proposal after a fully accepted step, or by a fed prompt) and evaluates the rest at the start
 * of the next step.
 * Relies on: ag_session_eval / ag_session_logits / ag_session_truncate, ag_sampler_*.
 */
#include <stdlib.h>
#include <string.h>

#include "autoglm/speculative.h"
#include "base/error.h"

enum { AG_SPEC_MAX_DRAFT = 64 };

struct ag_speculative {
    const ag_model *tm, *dm;
    ag_session *ts, *ds;
    int draft_max;
    ag_token *hist; /* (n_ctx + 1) tokens: the sequence, its last one pending */
    int n_hist, cap;
    bool pick_first; /* the target evaluated all of hist (a feed): the next token comes from its logits */
    long long n_drafted, n_accepted;
};

static ag_token argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* ---------------------------------------------------------------- vocabulary */

ag_status ag_speculative_check_vocab(const ag_model *t, const ag_model *d, ag_error *err) {
    const int n = ag_model_n_vocab(t);
    if (n != ag_model_n_vocab(d))
        return ag_error_set(err, AG_ERR_INVALID_ARG, "the draft's vocabulary differs from the target's: %d tokens, not %d",
                            ag_model_n_vocab(d), n);
    if (ag_token_bos(t) != ag_token_bos(d) || ag_token_eos(t) != ag_token_eos(d))
        return ag_error_set(err, AG_ERR_INVALID_ARG, "the draft's vocabulary differs from the target's: other BOS/EOS tokens");
    char a[256], b[256];
    for (ag_token i = 0; i < n; i++) {
        int la = ag_token_to_piece(t, i, a, (int)sizeof a, true), lb = ag_token_to_piece(d, i, b, (int)sizeof b, true);
        if (la != lb || (la > 0 && memcmp(a, b, (size_t)la) != 0))
            return ag_error_set(err, AG_ERR_INVALID_ARG, "the draft's vocabulary differs from the target's at token %d", (int)i);
    }
    return AG_OK;
}

/* ---------------------------------------------------------------- lifetime */

ag_speculative *ag_speculative_new(const ag_model *tm, ag_session *ts, const ag_model *dm, ag_session *ds,
                                   int draft_max, ag_error *err) {
    if (!tm || !ts || !dm || !ds || draft_max < 1 || draft_max > AG_SPEC_MAX_DRAFT) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "speculative decoding needs two sessions and draft_max in 1..%d",
                     AG_SPEC_MAX_DRAFT);
        return NULL;
    }
    if (ag_speculative_check_vocab(tm, dm, err) != AG_OK) return NULL;
    ag_speculative *sp = calloc(1, sizeof *sp);
    if (sp) sp->cap = ag_session_n_ctx(ts) + 1, sp->hist = malloc((size_t)sp->cap * sizeof *sp->hist);
    if (!sp || !sp->hist) {
        free(sp);
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    sp->tm = tm, sp->dm = dm, sp->ts = ts, sp->ds = ds, sp->draft_max = draft_max;
    ag_session_reset(ts);
    ag_session_reset(ds);
    return sp;
}

void ag_speculative_free(ag_speculative *sp) {
    if (!sp) return;
    free(sp->hist);
    free(sp);
}

void ag_speculative_stats(const ag_speculative *sp, long long *n_drafted, long long *n_accepted) {
    if (n_drafted) *n_drafted = sp->n_drafted;
    if (n_accepted) *n_accepted = sp->n_accepted;
}

/* ---------------------------------------------------------------- feeding */

ag_status ag_speculative_feed(ag_speculative *sp, const ag_token *tokens, int n, ag_error *err) {
    if (n < 1) return ag_error_set(err, AG_ERR_INVALID_ARG, "nothing to feed");
    int keep = ag_session_n_past(sp->ts);
    if (keep > sp->n_hist) keep = sp->n_hist; /* the target holds hist[0..keep) */
    if (keep + n > ag_session_n_ctx(sp->ts))
        return ag_error_set(err, AG_ERR_CONTEXT_FULL, "%d tokens do not fit in the context (%d used of %d)", n, keep,
                            ag_session_n_ctx(sp->ts));
    ag_session_truncate(sp->ts, keep);
    if (ag_session_n_past(sp->ds) > keep) ag_session_truncate(sp->ds, keep);
    memcpy(sp->hist + keep, tokens, (size_t)n * sizeof *tokens);
    sp->n_hist = keep;
    sp->pick_first = false;
    ag_status st = ag_session_eval(sp->ts, tokens, n, false, err);
    if (st != AG_OK) return st;
    sp->n_hist = keep + n;
    sp->pick_first = true;
    return AG_OK;
}

/* ---------------------------------------------------------------- one step */

/* The draft evaluates what it lacks of hist (the pending token included) and proposes up to k
 * tokens greedily into d, stopping after an end-of-generation token. Returns the count or -1. */
static int draft_propose(ag_speculative *sp, ag_token *d, int k, ag_error *err) {
    const int dn = ag_session_n_past(sp->ds);
    if (ag_session_eval(sp->ds, sp->hist + dn, sp->n_hist - dn, false, err) != AG_OK) return -1;
    const int nv = ag_model_n_vocab(sp->dm);
    int n = 0;
    for (;;) {
        d[n] = argmax(ag_session_logits(sp->ds, -1), nv);
        if (++n == k || ag_token_is_eog(sp->dm, d[n - 1])) return n;
        if (ag_session_eval(sp->ds, &d[n - 1], 1, false, err) != AG_OK) return -1;
    }
}

int ag_speculative_step(ag_speculative *sp, ag_sampler *smp, ag_token *out, int cap, ag_error *err) {
    if (sp->n_hist < 1 || cap < 1) {
        ag_error_set(err, AG_ERR_INVALID_ARG, sp->n_hist < 1 ? "feed a prompt first" : "no room for output");
        return -1;
    }
    int n_first = 0;
    if (sp->pick_first) { /* after a feed: the target's pick from the prompt's logits becomes the pending token */
        const ag_token t0 = ag_sampler_sample(smp, ag_session_logits(sp->ts, -1));
        ag_sampler_accept(smp, t0);
        sp->pick_first = false;
        sp->hist[sp->n_hist++] = t0;
        out[0] = t0;
        n_first = 1;
        if (cap == 1 || ag_token_is_eog(sp->tm, t0) || sp->n_hist > ag_session_n_ctx(sp->ts)) return 1;
        out++, cap--;
    }
    const int base = sp->n_hist - 1; /* the pending token's position */
    const int room_t = ag_session_n_ctx(sp->ts) - base - 1, room_d = ag_session_n_ctx(sp->ds) - base - 1;
    if (room_t < 0) {
        ag_error_set(err, AG_ERR_CONTEXT_FULL, "the context is full (%d tokens)", ag_session_n_ctx(sp->ts));
        return -1;
    }
    int k = sp->draft_max; /* proposals: they and the bonus token must fit in the caches and in out */
    if (k > cap - 1) k = cap - 1;
    if (k > room_t) k = room_t;
    if (k > room_d) k = room_d;
    ag_token batch[AG_SPEC_MAX_DRAFT + 1]; /* the pending token, then the proposals */
    batch[0] = sp->hist[base];
    int nd = k > 0 ? draft_propose(sp, batch + 1, k, err) : 0;
    if (nd < 0) return -1;
    if (ag_session_eval(sp->ts, batch, nd + 1, true, err) != AG_OK) return -1;
    int n_out = 0;
    for (int i = 0; i <= nd; i++) { /* the target's pick at each position; keep proposals while they agree */
        ag_token t = ag_sampler_sample(smp, ag_session_logits(sp->ts, i));
        ag_sampler_accept(smp, t);
        out[n_out++] = t;
        if (i == nd || t != batch[i + 1] || ag_token_is_eog(sp->tm, t)) break;
    }
    const int accepted = n_out - 1; /* proposals kept; out[n_out-1] is the new pending token */
    sp->n_drafted += nd;
    sp->n_accepted += accepted;
    ag_session_truncate(sp->ts, base + 1 + accepted);
    if (ag_session_n_past(sp->ds) > base + 1 + accepted) ag_session_truncate(sp->ds, base + 1 + accepted);
    memcpy(sp->hist + base + 1, out, (size_t)n_out * sizeof *out);
    sp->n_hist = base + 1 + n_out;
    return n_first + n_out;
}
