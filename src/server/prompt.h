/*
 * prompt.h - what a request asks of the model: its prompt as tokens (chat template, system
 * message, raw text, a previous answer's context) and its generation options (the model's
 * PARAMETERs under the request's options).
 */
#ifndef AG_SERVER_PROMPT_H
#define AG_SERVER_PROMPT_H

#include "server/api.h"
#include "store/options.h"
#include "store/store.h"

/* The prompt tokens (malloc'd) of a generate, chat or completion request. With images
 * (rq->n_images), each stands in the tokens as <|begin_of_image|><|image|><|end_of_image|> where
 * its tag put it, and order[k] (API_MAX_IMAGES entries) receives the request's index of the
 * image of the k-th placeholder (order may be NULL for a request without images). Returns 0,
 * or an HTTP status (400: a template error, an image without a place, 500) with a message. */
int prompt_tokens(const api_request *rq, const ag_model *m, const store_manifest *man, int *order, ag_token **out,
                  int *n, char *err, size_t cap);

/* Tokens of a text for embeddings (with BOS as the vocabulary asks). */
ag_token *prompt_tokenize(const ag_model *m, const char *text, bool add_special, bool parse_special, int *n);

/* Defaults, then the model's parameters, then the request's options. */
int prompt_options(const api_request *rq, const store_manifest *man, gen_options *o, char *err, size_t cap);

#endif
