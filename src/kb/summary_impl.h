/*
 * summary_impl.h - what the two summarizers share (summarize.c): sentence de-duplication of a
 * finished text, and the length measure (words, CJK characters counted one each).
 */
#ifndef AG_KB_SUMMARY_IMPL_H
#define AG_KB_SUMMARY_IMPL_H

#include <stddef.h>

/* Length in words (a run of non-CJK letters/digits) plus CJK characters. */
int kb_text_units(const char *s, size_t n);
/* The text with repeated or near-duplicate sentences (same terms, Jaccard >= 0.8) dropped. malloc'd. */
char *kb_dedup_sentences(const char *text, size_t len);

#endif
