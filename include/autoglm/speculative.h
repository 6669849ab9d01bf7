/*
 * speculative.h - speculative decoding: a small draft model proposes tokens, the target model
 * verifies them in one batched forward pass (public API, on top of autoglm.h).
 *
 * The caller owns both models and both sessions; an ag_speculative only keeps the token history
 * that the two sessions share and the acceptance counters. Verification is token matching: at
 * each proposed position the target's own sampler picks the token from the target's logits; the
 * draft's token is kept while it equals that pick, and the first differing pick (or, when every
 * proposal was kept, the pick after the last one: the bonus token) ends the step. So the output
 * is exactly what decoding with the target alone gives with the same sampler: the same tokens
 * for greedy sampling (temperature 0), the same distribution (and, with the same seed, the same
 * tokens) otherwise. The draft always proposes greedily; with sampling, proposals are accepted
 * less often than with rejection sampling, but the output is never biased.
 *
 *   ag_speculative *sp = ag_speculative_new(tm, ts, dm, ds, 8, &err);   // same vocabulary
 *   ag_speculative_feed(sp, prompt, n, &err);           // the prompt (its last token is kept pending)
 *   n_out = ag_speculative_step(sp, smp, out, cap, &err); // 1..draft_max+1 tokens of the target
 */
#ifndef AUTOGLM_SPECULATIVE_H
#define AUTOGLM_SPECULATIVE_H

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_speculative ag_speculative;

/* AG_OK when the two models have the same vocabulary (size, every token's text, BOS and EOS);
 * AG_ERR_INVALID_ARG with the first difference in the message otherwise. */
ag_status ag_speculative_check_vocab(const ag_model *target, const ag_model *draft, ag_error *err);

/* target / draft: sessions of target_model / draft_model, used only through this object until it
 * is freed (their caches are reset). draft_max: proposals per step, 1..64. */
ag_speculative *ag_speculative_new(const ag_model *target_model, ag_session *target, const ag_model *draft_model,
                                   ag_session *draft, int draft_max, ag_error *err);
void ag_speculative_free(ag_speculative *sp);

/* Appends tokens (n >= 1) after the positions the target session holds (ag_session_n_past;
 * a caller may have truncated it to keep a common prefix): the pending token of the last step
 * is dropped, so to continue after a step, pass its last token first. Evaluates all the tokens
 * in the target in one pass (as decoding without a draft would read them), so that the next
 * step's first token is the target's pick from their last logits; the draft catches up in the
 * next step. The tokens must fit in the target's context. */
ag_status ag_speculative_feed(ag_speculative *sp, const ag_token *tokens, int n, ag_error *err);

/* One step: the draft proposes up to draft_max tokens after the pending one, the target
 * evaluates the pending token and the proposals in one pass (all logits) and smp picks from
 * them; out receives the tokens generated (at least 1, at most min(cap, draft_max + 1), one more
 * right after a feed: the pick from the fed tokens' logits comes first; the step stops after an
 * end-of-generation token) and each is passed to ag_sampler_accept. The
 * last one becomes the pending token. Returns the count, or -1 with err filled
 * (AG_ERR_CONTEXT_FULL when the target has no room for the pending token). */
int ag_speculative_step(ag_speculative *sp, ag_sampler *smp, ag_token *out, int cap, ag_error *err);

/* Tokens proposed by the draft and accepted by the target since ag_speculative_new. */
void ag_speculative_stats(const ag_speculative *sp, long long *n_drafted, long long *n_accepted);

#ifdef __cplusplus
}
#endif

#endif
