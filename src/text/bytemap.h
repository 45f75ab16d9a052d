/* A growable hash map from byte strings to int64 values, with the keys copied into one
 * pool. Used by vocabulary training (word counts, token ids). Entries are numbered in
 * insertion order, which keeps everything built on them deterministic. */
#ifndef BIENC_TEXT_BYTEMAP_H
#define BIENC_TEXT_BYTEMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct bytemap {
    char *pool;
    size_t pool_len, pool_cap;
    size_t *key_off;      /* per entry */
    uint32_t *key_len;
    int64_t *value;
    uint32_t *hash;
    int32_t n, cap;       /* entries */
    int32_t *slots;       /* -1 empty, else entry index */
    uint32_t mask;
} bytemap;

void bytemap_init(bytemap *m);
void bytemap_free(bytemap *m);
/* Entry index of key, or -1. */
int32_t bytemap_find(const bytemap *m, const char *key, size_t len);
/* Entry index of key, inserting it with value 0 when absent; -1 (with error set) when out of memory. */
int32_t bytemap_intern(bytemap *m, const char *key, size_t len);
static inline const char *bytemap_key(const bytemap *m, int32_t i) { return m->pool + m->key_off[i]; }

#endif
