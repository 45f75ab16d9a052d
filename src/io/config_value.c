/* Typed values of the run config: parsing a scalar text into a key's field with type and
 * range checks, comparing two configs, and the "expects ..." wording of messages. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "io/config_internal.h"

#define CFG_MAX_STRING 4096

const char *cfg_expects(const cfg_entry *e, char *buf, size_t size)
{
    const cfg_key *k = e->key;
    char range[80] = "";
    /* the limit is stated even when it is huge: 9007199254740993 must learn it is too big */
    snprintf(range, sizeof range, " in [%.15g, %.15g]", k->min, k->max);
    switch (k->type) {
    case BIENC_CFG_INT: snprintf(buf, size, "an integer%s", range); break;
    case BIENC_CFG_FLOAT: snprintf(buf, size, "a number%s", range); break;
    case BIENC_CFG_BOOL: snprintf(buf, size, "true or false"); break;
    case BIENC_CFG_STRING: snprintf(buf, size, "a string"); break;
    case BIENC_CFG_CHOICE: snprintf(buf, size, "one of %s", e->choices); break;
    case BIENC_CFG_INTS:
    case BIENC_CFG_FLOATS:
        if (k->min_count == k->max_count)
            snprintf(buf, size, "a list of %d %s%s", k->min_count, k->type == BIENC_CFG_INTS ? "integers" : "numbers", range);
        else
            snprintf(buf, size, "a list of %d to %d %s%s", k->min_count, k->max_count,
                     k->type == BIENC_CFG_INTS ? "integers" : "numbers", range);
        break;
    }
    return buf;
}

/* A printable, shortened copy of a value for messages (junk bytes become '?'). */
static const char *shown(const char *text, size_t len, char *buf, size_t size)
{
    if (!text) return "null";
    size_t o = 0, max = size > 8 ? size - 4 : 0;
    for (size_t i = 0; i < len && o < max; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[o++] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
    }
    if (len > max && size > 8) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

static int type_error(const cfg_entry *e, const char *text, size_t len)
{
    char want[160], got[80];
    if (!text) return bienc_error(BIENC_EINVAL, "key '%s' expects %s, got nothing (null)", e->path, cfg_expects(e, want, sizeof want));
    return bienc_error(BIENC_EINVAL, "key '%s' expects %s, got '%s'", e->path, cfg_expects(e, want, sizeof want),
                       shown(text, len, got, sizeof got));
}

/* Numbers: decimal only (no hex, nan or inf), the whole text. */
static int parse_double(const char *text, size_t len, double *out)
{
    char buf[64];
    if (!text || len == 0 || len >= sizeof buf) return -1;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", text[i]) || text[i] == 0) return -1;
    memcpy(buf, text, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_int64(const char *text, size_t len, int64_t *out)
{
    char buf[64];
    if (!text || len == 0 || len >= sizeof buf) return -1;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", text[i]) || text[i] == 0) return -1;
    memcpy(buf, text, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end == buf + len && errno == 0) {
        *out = v;
        return 0;
    }
    /* 1e4, 5.0: whole numbers written as floats */
    double d;
    if (parse_double(text, len, &d) == 0 && d == floor(d) && fabs(d) < 9.0e15) {
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

static int parse_bool(const char *text, size_t len, int *out)
{
    static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
    if (!text) return -1;
    for (int i = 0; i < 3; i++) {
        if (len == strlen(yes[i]) && strncasecmp(text, yes[i], len) == 0) return *out = 1, 0;
        if (len == strlen(no[i]) && strncasecmp(text, no[i], len) == 0) return *out = 0, 0;
    }
    return -1;
}

/* The value of the choice whose name (canonical or alias, any case) equals text, or -1. */
static int parse_choice(const cfg_choice *choices, const char *text, size_t len)
{
    if (!text || len == 0) return -1;
    for (const cfg_choice *c = choices; c->name; c++)
        if (strlen(c->name) == len && strncasecmp(c->name, text, len) == 0) return c->value;
    return -1;
}

const char *cfg_choice_name(const cfg_entry *e, int v)
{
    for (const cfg_choice *c = e->key->choices; c->name; c++)
        if (c->value == v) return c->name;
    return "";
}

static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07;
        else return 0;
        if (i + n > len) return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n;
    }
    return 1;
}

static int in_range(const cfg_key *k, double v) { return v >= k->min && v <= k->max; }

int cfg_set_scalar(bienc_run_config *cfg, const cfg_entry *e, const char *text, size_t len)
{
    const cfg_key *k = e->key;
    switch (k->type) {
    case BIENC_CFG_INT: {
        int64_t v;
        if (parse_int64(text, len, &v) < 0 || !in_range(k, (double)v)) return type_error(e, text, len);
        *CFG_FIELD(cfg, e, int64_t) = v;
        return 0;
    }
    case BIENC_CFG_FLOAT: {
        double v;
        if (parse_double(text, len, &v) < 0 || !in_range(k, v)) return type_error(e, text, len);
        *CFG_FIELD(cfg, e, double) = v;
        return 0;
    }
    case BIENC_CFG_BOOL: {
        int v;
        if (parse_bool(text, len, &v) < 0) return type_error(e, text, len);
        *CFG_FIELD(cfg, e, int) = v;
        return 0;
    }
    case BIENC_CFG_CHOICE: {
        int v = parse_choice(k->choices, text, len);
        if (v < 0) return type_error(e, text, len);
        *CFG_FIELD(cfg, e, int) = v;
        return 0;
    }
    case BIENC_CFG_STRING: {
        char **field = CFG_FIELD(cfg, e, char *);
        if (!text || len == 0) {
            free(*field);
            *field = NULL;
            return 0;
        }
        if (memchr(text, 0, len)) return bienc_error(BIENC_EINVAL, "key '%s': the string contains a NUL byte", e->path);
        if (len > CFG_MAX_STRING)
            return bienc_error(BIENC_EINVAL, "key '%s': string of %zu bytes (at most %d)", e->path, len, CFG_MAX_STRING);
        if (!utf8_valid((const unsigned char *)text, len))
            return bienc_error(BIENC_EINVAL, "key '%s': the string is not valid UTF-8", e->path);
        char *copy = strndup(text, len);
        if (!copy) return bienc_error(BIENC_ENOMEM, "key '%s': out of memory", e->path);
        free(*field);
        *field = copy;
        return 0;
    }
    case BIENC_CFG_INTS:
    case BIENC_CFG_FLOATS: {
        const char *items[1] = {text};
        size_t lens[1] = {len};
        return cfg_set_list(cfg, e, items, lens, text ? 1 : 0);  /* a scalar is a list of one */
    }
    }
    return bienc_error(BIENC_EINVAL, "key '%s': unknown type", e->path);
}

int cfg_set_list(bienc_run_config *cfg, const cfg_entry *e, const char *const *items, const size_t *lens, int n)
{
    const cfg_key *k = e->key;
    char want[160], got[80];
    if (k->type != BIENC_CFG_INTS && k->type != BIENC_CFG_FLOATS) {
        if (n == 1) return cfg_set_scalar(cfg, e, items[0], lens[0]);
        return bienc_error(BIENC_EINVAL, "key '%s' expects %s, got a list", e->path, cfg_expects(e, want, sizeof want));
    }
    if (n < k->min_count || n > k->max_count)
        return bienc_error(BIENC_EINVAL, "key '%s' expects %s, got %d item%s", e->path, cfg_expects(e, want, sizeof want), n,
                           n == 1 ? "" : "s");
    if (k->type == BIENC_CFG_INTS) {
        bienc_cfg_ints v = {0};
        for (int i = 0; i < n; i++)
            if (parse_int64(items[i], lens[i], &v.v[i]) < 0 || !in_range(k, (double)v.v[i]))
                return bienc_error(BIENC_EINVAL, "key '%s' expects %s, got item '%s'", e->path,
                                   cfg_expects(e, want, sizeof want), shown(items[i], lens[i], got, sizeof got));
        v.n = n;
        *CFG_FIELD(cfg, e, bienc_cfg_ints) = v;
    } else {
        bienc_cfg_floats v = {0};
        for (int i = 0; i < n; i++)
            if (parse_double(items[i], lens[i], &v.v[i]) < 0 || !in_range(k, v.v[i]))
                return bienc_error(BIENC_EINVAL, "key '%s' expects %s, got item '%s'", e->path,
                                   cfg_expects(e, want, sizeof want), shown(items[i], lens[i], got, sizeof got));
        v.n = n;
        *CFG_FIELD(cfg, e, bienc_cfg_floats) = v;
    }
    return 0;
}

int config_equal(const bienc_run_config *a, const bienc_run_config *b, char *diff, size_t diffsize)
{
    int n;
    const cfg_entry *es = cfg_entries(&n);
    for (int i = 0; i < n; i++) {
        const cfg_entry *e = &es[i];
        int same = 1;
        switch (e->key->type) {
        case BIENC_CFG_INT: same = *CFG_CFIELD(a, e, int64_t) == *CFG_CFIELD(b, e, int64_t); break;
        case BIENC_CFG_FLOAT: same = *CFG_CFIELD(a, e, double) == *CFG_CFIELD(b, e, double); break;
        case BIENC_CFG_BOOL:
        case BIENC_CFG_CHOICE: same = *CFG_CFIELD(a, e, int) == *CFG_CFIELD(b, e, int); break;
        case BIENC_CFG_STRING: {
            const char *x = *CFG_CFIELD(a, e, char *), *y = *CFG_CFIELD(b, e, char *);
            same = (!x && !y) || (x && y && strcmp(x, y) == 0);
            break;
        }
        case BIENC_CFG_INTS: {
            const bienc_cfg_ints *x = CFG_CFIELD(a, e, bienc_cfg_ints), *y = CFG_CFIELD(b, e, bienc_cfg_ints);
            same = x->n == y->n && memcmp(x->v, y->v, sizeof x->v[0] * (size_t)x->n) == 0;
            break;
        }
        case BIENC_CFG_FLOATS: {
            const bienc_cfg_floats *x = CFG_CFIELD(a, e, bienc_cfg_floats), *y = CFG_CFIELD(b, e, bienc_cfg_floats);
            same = x->n == y->n;
            for (int j = 0; same && j < x->n; j++) same = x->v[j] == y->v[j];
            break;
        }
        }
        if (!same) {
            if (diff && diffsize) snprintf(diff, diffsize, "%s", e->path);
            return 0;
        }
    }
    if (diff && diffsize) diff[0] = 0;
    return 1;
}
