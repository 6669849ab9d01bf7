/*
 * cli_draft.h - the draft model of speculative decoding for `run --draft` and `bench --draft`
 * (cli_draft.c, on top of autoglm/speculative.h).
 */
#ifndef AG_CLI_DRAFT_H
#define AG_CLI_DRAFT_H

#include "autoglm/speculative.h"

/* The draft model and its session, and the speculative decoder over (m, s) and them. */
typedef struct {
    ag_model *model;
    ag_session *session;
    ag_speculative *spec;
} cli_draft;

/* Loads DRAFT (a store name or a GGUF path) with a session of s's context; false with a message
 * on stderr (a different vocabulary included). */
bool cli_draft_open(cli_draft *d, const ag_model *m, ag_session *s, const char *draft, int draft_max, int threads);
void cli_draft_close(cli_draft *d);
/* "draft acceptance: A/D proposals (P%)" on stderr. */
void cli_draft_print_stats(const cli_draft *d);

/* `bench --draft`: greedy generation of n_gen tokens after a short prompt, reps times, without
 * and with the draft: tokens/s of each, the speed-up, the acceptance rate, and whether the
 * tokens were identical. Returns a CLI exit code. */
int cli_draft_bench(const ag_model *m, const char *draft, int draft_max, int n_gen, int reps, int threads);

#endif
