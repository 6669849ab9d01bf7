/*
 * json_constraint.h - an incremental JSON validator over bytes, optionally held to a JSON schema
 * (a subset: type, properties, required, additionalProperties, items, minItems, maxItems,
 * minLength, maxLength, enum, const), used to constrain sampling: a token is allowed when its
 * bytes keep the output a prefix of a valid document (json_constraint.c); the public mask
 * functions are in autoglm.h (ag_json_constraint_*).
 *
 * The state is a small stack of frames (one per open value) copied by value, so trying a token
 * costs a copy of the used frames and a feed of its bytes.
 */
#ifndef AG_SAMPLE_JSON_CONSTRAINT_H
#define AG_SAMPLE_JSON_CONSTRAINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JC_MAX_DEPTH 32
#define JC_MAX_PROPS 32 /* properties of one object schema, values of one enum */
#define JC_MAX_WS 4     /* whitespace bytes in a row between tokens (bounded so output ends) */
#define JC_MAX_DIGITS 18

typedef struct jc_node jc_node;
typedef struct jc_schema jc_schema;

/* Compiles a schema (JSON text); NULL with a message naming an unsupported keyword or a
 * malformed part. */
jc_schema *jc_schema_compile(const char *json, size_t len, char *err, size_t cap);
void jc_schema_free(jc_schema *s);
const jc_node *jc_schema_root(const jc_schema *s);

typedef struct {
    const jc_node *sc; /* the value's schema; NULL = any JSON */
    uint32_t mask;     /* object: properties seen; key string / enum: candidates still matching */
    int32_t count;     /* array items; string characters; number digits; literal/enum position */
    int16_t prop;      /* object: the property whose value is being read (-1: none / any) */
    uint8_t kind, st;  /* frame kind and its sub-state */
    uint8_t utf8;      /* string: continuation bytes still expected */
    uint8_t key;       /* string: this is an object's key */
} jc_frame;

typedef struct {
    int depth;   /* open frames; 0 after the root value ended */
    int ws;      /* whitespace bytes in a row */
    bool started;
    jc_frame fr[JC_MAX_DEPTH];
} jc_state;

void jc_init(jc_state *s, const jc_node *root); /* root NULL: any JSON value */
/* Feeds bytes; false when they cannot continue a valid document (the state is then undefined). */
bool jc_feed(jc_state *s, const char *bytes, size_t n);
/* A complete document: nothing open, or only a root number/enum that may end here. */
bool jc_complete(const jc_state *s);
/* Copies the frames in use. */
void jc_copy(jc_state *dst, const jc_state *src);

#endif
