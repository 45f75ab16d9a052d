/* Internal to src/eval: a string pool (many small strings, freed at once) and an
 * open-addressing hash map from byte strings to int64 values. Keys are copied into the
 * map's own pool, so callers may pass transient buffers. */
#ifndef BIENC_EVAL_STRMAP_H
#define BIENC_EVAL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strpool_chunk strpool_chunk;
typedef struct strpool {
    strpool_chunk *head;
    size_t used, cap; /* of the head chunk */
} strpool;

/* NUL-terminated copy of s[0..len) owned by the pool; NULL when out of memory. */
char *strpool_dup(strpool *p, const char *s, size_t len);
void strpool_free(strpool *p);

typedef struct strmap_slot {
    const char *key; /* NULL = empty slot */
    size_t len;
    uint64_t hash;
    int64_t value;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;
    size_t cap, count; /* cap is 0 or a power of two */
    strpool keys;
} strmap;

/* A zeroed strmap is a valid empty map. */
void strmap_free(strmap *m);
/* 1 and *value when key is present, else 0. */
int strmap_get(const strmap *m, const char *key, size_t len, int64_t *value);
/* Inserts key -> value when absent (returns 0); when present leaves the map unchanged, stores
 * the existing value in *existing (if non-NULL) and returns 1. BIENC_ENOMEM on failure.
 * *stored_key (if non-NULL) receives the map's copy of the key. */
int strmap_put(strmap *m, const char *key, size_t len, int64_t value, int64_t *existing,
               const char **stored_key);

#endif
