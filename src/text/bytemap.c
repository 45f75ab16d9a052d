/* Open-addressing string hash map (see bytemap.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/bytemap.h"

static uint32_t hash_str(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

void bytemap_init(bytemap *m) { memset(m, 0, sizeof *m); }

void bytemap_free(bytemap *m)
{
    free(m->pool);
    free(m->key_off);
    free(m->key_len);
    free(m->value);
    free(m->hash);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int32_t bytemap_find(const bytemap *m, const char *key, size_t len)
{
    if (!m->slots) return -1;
    uint32_t h = hash_str(key, len);
    for (uint32_t s = h & m->mask;; s = (s + 1) & m->mask) {
        int32_t e = m->slots[s];
        if (e < 0) return -1;
        if (m->hash[e] == h && m->key_len[e] == len && memcmp(m->pool + m->key_off[e], key, len) == 0) return e;
    }
}

static int rehash(bytemap *m, uint32_t nslots)
{
    int32_t *slots = malloc(sizeof *slots * nslots);
    if (!slots) return bienc_error(BIENC_ENOMEM, "bytemap: out of memory");
    memset(slots, 0xFF, sizeof *slots * nslots);
    for (int32_t e = 0; e < m->n; e++) {
        uint32_t s = m->hash[e] & (nslots - 1);
        while (slots[s] >= 0) s = (s + 1) & (nslots - 1);
        slots[s] = e;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = nslots - 1;
    return 0;
}

int32_t bytemap_intern(bytemap *m, const char *key, size_t len)
{
    int32_t e = bytemap_find(m, key, len);
    if (e >= 0) return e;
    if (m->n == m->cap) {
        if (m->cap >= (1 << 29)) return bienc_error(BIENC_ENOMEM, "bytemap: too many entries"), -1;
        int32_t cap = m->cap ? m->cap * 2 : 1024;
        size_t *ko = realloc(m->key_off, sizeof *ko * cap);
        if (ko) m->key_off = ko;
        uint32_t *kl = realloc(m->key_len, sizeof *kl * cap);
        if (kl) m->key_len = kl;
        int64_t *v = realloc(m->value, sizeof *v * cap);
        if (v) m->value = v;
        uint32_t *h = realloc(m->hash, sizeof *h * cap);
        if (h) m->hash = h;
        if (!ko || !kl || !v || !h) return bienc_error(BIENC_ENOMEM, "bytemap: out of memory"), -1;
        m->cap = cap;
    }
    if ((uint32_t)(m->n + 1) * 2 > (m->slots ? m->mask + 1 : 0)) {
        uint32_t ns = m->slots ? (m->mask + 1) * 2 : 2048;
        if (rehash(m, ns) < 0) return -1;
    }
    if (m->pool_cap - m->pool_len < len + 1) {
        size_t cap = m->pool_cap ? m->pool_cap : 65536;
        while (cap - m->pool_len < len + 1) cap *= 2;
        char *p = realloc(m->pool, cap);
        if (!p) return bienc_error(BIENC_ENOMEM, "bytemap: out of memory"), -1;
        m->pool = p;
        m->pool_cap = cap;
    }
    e = m->n++;
    memcpy(m->pool + m->pool_len, key, len);
    m->pool[m->pool_len + len] = '\0';
    m->key_off[e] = m->pool_len;
    m->key_len[e] = (uint32_t)len;
    m->pool_len += len + 1;
    m->value[e] = 0;
    m->hash[e] = hash_str(key, len);
    uint32_t s = m->hash[e] & m->mask;
    while (m->slots[s] >= 0) s = (s + 1) & m->mask;
    m->slots[s] = e;
    return e;
}
