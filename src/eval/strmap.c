#include "eval/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct strpool_chunk {
    strpool_chunk *next;
    char data[];
};

#define STRPOOL_CHUNK (64 * 1024)

char *strpool_dup(strpool *p, const char *s, size_t len)
{
    if (!p->head || p->cap - p->used < len + 1) {
        /* A string longer than a chunk gets a chunk of its own. */
        size_t cap = len + 1 > STRPOOL_CHUNK ? len + 1 : STRPOOL_CHUNK;
        strpool_chunk *c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = p->head;
        p->head = c;
        p->used = 0;
        p->cap = cap;
    }
    char *dst = p->head->data + p->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    p->used += len + 1;
    return dst;
}

void strpool_free(strpool *p)
{
    if (!p) return;
    strpool_chunk *c = p->head;
    while (c) {
        strpool_chunk *next = c->next;
        free(c);
        c = next;
    }
    p->head = NULL;
    p->used = p->cap = 0;
}

/* FNV-1a: simple, and good enough for ids that are mostly short digit strings. */
static uint64_t strmap_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    /* Mix the high bits down: the table index uses the low bits. */
    h ^= h >> 29;
    return h;
}

void strmap_free(strmap *m)
{
    if (!m) return;
    free(m->slots);
    strpool_free(&m->keys);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static strmap_slot *strmap_find(const strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)) return s;
    }
}

int strmap_get(const strmap *m, const char *key, size_t len, int64_t *value)
{
    if (m->cap == 0) return 0;
    strmap_slot *s = strmap_find(m, key, len, strmap_hash(key, len));
    if (!s->key) return 0;
    if (value) *value = s->value;
    return 1;
}

static int strmap_grow(strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return bienc_error(BIENC_ENOMEM, "out of memory growing a hash map to %zu slots", cap);
    strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key) *strmap_find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) = old.slots[i];
    free(old.slots);
    return 0;
}

int strmap_put(strmap *m, const char *key, size_t len, int64_t value, int64_t *existing,
               const char **stored_key)
{
    /* Keep the load factor under 1/2 so probe chains stay short. */
    if ((m->count + 1) * 2 > m->cap) BIENC_TRY(strmap_grow(m));
    uint64_t h = strmap_hash(key, len);
    strmap_slot *s = strmap_find(m, key, len, h);
    if (s->key) {
        if (existing) *existing = s->value;
        if (stored_key) *stored_key = s->key;
        return 1;
    }
    char *copy = strpool_dup(&m->keys, key, len);
    if (!copy) return bienc_error(BIENC_ENOMEM, "out of memory storing a key");
    s->key = copy;
    s->len = len;
    s->hash = h;
    s->value = value;
    m->count++;
    if (stored_key) *stored_key = copy;
    return 0;
}
