/*
 * wpm_norm.h - the character rules of the WordPiece ("bert") tokenizer: what each code point
 * becomes before words are matched.
 *
 * As the GGUF reference implementation (llama.cpp's WPM preprocess) decides, in this order:
 *   - with strip_accents, the code point is replaced by the first code point of its canonical
 *     decomposition (NFD): "é" becomes "e", and the accent is gone;
 *   - Unicode whitespace ends the current word;
 *   - NUL, U+FFFD (which invalid bytes read as) and control/format/unassigned characters (\p{C})
 *     are dropped, and so are combining marks (\p{M}) with strip_accents;
 *   - punctuation (\p{P}), ASCII symbols and CJK ideographs are words of their own;
 *   - everything else joins the current word, lowercased when asked.
 * Character data comes from utf8proc (Unicode 15).
 */
#ifndef AG_TOKENIZER_WPM_NORM_H
#define AG_TOKENIZER_WPM_NORM_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    AG_WPM_SKIP,  /* dropped */
    AG_WPM_SPACE, /* ends the word */
    AG_WPM_ALONE, /* a word of its own */
    AG_WPM_JOIN,  /* part of the word */
} ag_wpm_class;

/* The class of code point cp and, for ALONE and JOIN, the code point to write (*out). */
ag_wpm_class ag_wpm_classify(uint32_t cp, bool lowercase, bool strip_accents, uint32_t *out);

#endif
