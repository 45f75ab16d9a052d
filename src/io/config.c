/* Loading a run config: defaults from the schema, then a YAML file read with libyaml's
 * event parser (so every error has a line and column), then --set overrides. */
#include "io/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/error.h"
#include "io/config_internal.h"

#define CFG_MAX_FILE (1 << 20)  /* a config is a page of text; refuse anything huge */
#define CFG_MAX_DEPTH 8
#define CFG_MAX_MAP_KEYS 64

int config_init(bienc_run_config *cfg)
{
    if (!cfg) return bienc_error(BIENC_EINVAL, "config_init: NULL config");
    memset(cfg, 0, sizeof *cfg);
    int n;
    const cfg_entry *es = cfg_entries(&n);
    for (int i = 0; i < n; i++) {
        const char *def = es[i].def;
        int rc;
        if (es[i].key->type == BIENC_CFG_INTS || es[i].key->type == BIENC_CFG_FLOATS) {
            /* "[a, b, c]" */
            const char *items[BIENC_CFG_MAX_LIST];
            size_t lens[BIENC_CFG_MAX_LIST];
            int k = 0;
            const char *p = def + 1;
            while (*p && *p != ']' && k < BIENC_CFG_MAX_LIST) {
                while (*p == ' ') p++;
                size_t l = strcspn(p, ",]");
                items[k] = p;
                lens[k++] = l;
                p += l;
                if (*p == ',') p++;
            }
            rc = cfg_set_list(cfg, &es[i], items, lens, k);
        } else {
            rc = cfg_set_scalar(cfg, &es[i], def, strlen(def));
        }
        if (rc < 0) return bienc_error_context(rc, "config schema default of '%s': ", es[i].path);
    }
    return 0;
}

void config_free(bienc_run_config *cfg)
{
    if (!cfg) return;
    int n;
    const cfg_entry *es = cfg_entries(&n);
    for (int i = 0; i < n; i++)
        if (es[i].key->type == BIENC_CFG_STRING) {
            char **f = CFG_FIELD(cfg, &es[i], char *);
            free(*f);
            *f = NULL;
        }
    free(cfg->source);
    cfg->source = NULL;
}

/* ---- the YAML walk ---- */

typedef struct parse_ctx {
    yaml_parser_t parser;
    const char *name;
    const unsigned char *text;
    size_t len;
    bienc_run_config *cfg;
    int *seen_line;        /* per entry: line where the file set it (0 = not yet) */
    const cfg_entry *entries;
} parse_ctx;

/* 1-based line and column of a byte offset (for reader errors, which carry no mark). */
static void offset_line_col(const parse_ctx *c, size_t offset, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < c->len; i++) {
        if (c->text[i] == '\n') (*line)++, *col = 1;
        else (*col)++;
    }
}

static int yaml_failure(parse_ctx *c)
{
    yaml_parser_t *p = &c->parser;
    const char *problem = p->problem ? p->problem : "unknown error";
    size_t line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_line_col(c, p->problem_offset, &line, &col);
        return bienc_error(BIENC_EFORMAT, "%s:%zu:%zu: not a YAML text file: %s (byte 0x%02x at offset %zu)", c->name, line,
                           col, problem, p->problem_value & 0xff, p->problem_offset);
    }
    if (p->error == YAML_MEMORY_ERROR) return bienc_error(BIENC_ENOMEM, "%s: out of memory while parsing", c->name);
    line = p->problem_mark.line + 1;
    col = p->problem_mark.column + 1;
    const char *hint = "";
    size_t at = p->problem_mark.index;
    if (at < c->len && c->text[at] == '\t') hint = " (a tab: YAML indentation must use spaces)";
    if (p->context)
        return bienc_error(BIENC_EFORMAT, "%s:%zu:%zu: invalid YAML: %s %s (line %zu)%s", c->name, line, col, problem,
                           p->context, (size_t)p->context_mark.line + 1, hint);
    return bienc_error(BIENC_EFORMAT, "%s:%zu:%zu: invalid YAML: %s%s", c->name, line, col, problem, hint);
}

static int next_event(parse_ctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev)) return yaml_failure(c);
    return 0;
}

static int at(parse_ctx *c, const yaml_mark_t *m, int code, const char *fmt, const char *a, const char *b)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, b);
    return bienc_error(code, "%s:%zu:%zu: %s", c->name, (size_t)m->line + 1, (size_t)m->column + 1, msg);
}

static int unknown_key(parse_ctx *c, const yaml_mark_t *m, const char *path)
{
    const char *near = cfg_suggest(path);
    char hint[160] = "";
    if (near) snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    return at(c, m, BIENC_EINVAL, "unknown key '%s'%s; `bienc config --keys` lists every key", path, hint);
}

static const char *event_kind(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_SEQUENCE_START_EVENT: return "a list";
    case YAML_ALIAS_EVENT: return "an alias";
    default: return "a scalar";
    }
}

/* A plain `~`, `null` or empty value is YAML's null. */
static int is_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    return n == 0 || (n == 1 && v[0] == '~') || (n == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

static int mark_seen(parse_ctx *c, const cfg_entry *e, const yaml_mark_t *m)
{
    int i = (int)(e - c->entries);
    if (c->seen_line[i]) {
        char first[32];
        snprintf(first, sizeof first, "%d", c->seen_line[i]);
        return at(c, m, BIENC_EINVAL, "key '%s' is given twice (first at line %s)", e->path, first);
    }
    c->seen_line[i] = (int)m->line + 1;
    return 0;
}

static int parse_sequence(parse_ctx *c, const cfg_entry *e, const yaml_mark_t *m)
{
    char *items[BIENC_CFG_MAX_LIST + 1];
    size_t lens[BIENC_CFG_MAX_LIST + 1];
    int n = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        rc = next_event(c, &ev);
        if (rc < 0) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT || is_null(&ev)) {
            rc = at(c, &ev.start_mark, BIENC_EINVAL, "key '%s': list items must be numbers, got %s", e->path,
                    ev.type == YAML_SCALAR_EVENT ? "null" : event_kind(&ev));
            yaml_event_delete(&ev);
            break;
        }
        if (n == BIENC_CFG_MAX_LIST) {
            char max[16];
            snprintf(max, sizeof max, "%d", BIENC_CFG_MAX_LIST);
            rc = at(c, &ev.start_mark, BIENC_EINVAL, "key '%s': more than %s items", e->path, max);
            yaml_event_delete(&ev);
            break;
        }
        items[n] = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
        lens[n] = ev.data.scalar.length;
        yaml_event_delete(&ev);
        if (!items[n]) {
            rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", c->name);
            break;
        }
        n++;
    }
    if (rc == 0) {
        rc = cfg_set_list(c->cfg, e, (const char *const *)items, lens, n);
        if (rc < 0) bienc_error_context(rc, "%s:%zu:%zu: ", c->name, (size_t)m->line + 1, (size_t)m->column + 1);
    }
    for (int i = 0; i < n; i++) free(items[i]);
    return rc;
}

static int parse_mapping(parse_ctx *c, const char *prefix, int depth);

/* One `key: value` pair whose key event has been read. */
static int parse_pair(parse_ctx *c, const char *path, const yaml_mark_t *key_mark, int depth)
{
    char alias_buf[96];
    path = cfg_resolve_alias(path, alias_buf, sizeof alias_buf);
    const cfg_entry *e = cfg_find(path);
    yaml_event_t ev;
    BIENC_TRY(next_event(c, &ev));
    int rc = 0;
    char want[160];
    switch (ev.type) {
    case YAML_SCALAR_EVENT:
        if (!e) {
            if (cfg_is_section(path))
                rc = at(c, &ev.start_mark, BIENC_EINVAL, "'%s' is a section: it expects a mapping of keys, got a scalar%s",
                        path, "");
            else rc = unknown_key(c, key_mark, path);
            break;
        }
        rc = mark_seen(c, e, key_mark);
        if (rc == 0) {
            const char *v = is_null(&ev) ? NULL : (const char *)ev.data.scalar.value;
            rc = cfg_set_scalar(c->cfg, e, v, v ? ev.data.scalar.length : 0);
            if (rc < 0)
                bienc_error_context(rc, "%s:%zu:%zu: ", c->name, (size_t)ev.start_mark.line + 1,
                                    (size_t)ev.start_mark.column + 1);
        }
        break;
    case YAML_MAPPING_START_EVENT:
        if (e) rc = at(c, &ev.start_mark, BIENC_EINVAL, "key '%s' expects %s, got a mapping", path, cfg_expects(e, want, sizeof want));
        else if (!cfg_is_section(path)) rc = unknown_key(c, key_mark, path);
        else rc = parse_mapping(c, path, depth + 1);
        break;
    case YAML_SEQUENCE_START_EVENT:
        if (!e) rc = cfg_is_section(path) ? at(c, &ev.start_mark, BIENC_EINVAL, "'%s' is a section: it expects a mapping of keys, got %s", path, "a list")
                                          : unknown_key(c, key_mark, path);
        else if (e->key->type != BIENC_CFG_INTS && e->key->type != BIENC_CFG_FLOATS)
            rc = at(c, &ev.start_mark, BIENC_EINVAL, "key '%s' expects %s, got a list", path, cfg_expects(e, want, sizeof want));
        else if ((rc = mark_seen(c, e, key_mark)) == 0)
            rc = parse_sequence(c, e, &ev.start_mark);
        break;
    case YAML_ALIAS_EVENT:
        rc = at(c, &ev.start_mark, BIENC_EINVAL, "key '%s': YAML aliases (*%s) are not supported", path,
                (const char *)ev.data.alias.anchor);
        break;
    default:
        rc = at(c, &ev.start_mark, BIENC_EFORMAT, "key '%s': unexpected YAML event%s", path, "");
    }
    yaml_event_delete(&ev);
    return rc;
}

static int parse_mapping(parse_ctx *c, const char *prefix, int depth)
{
    if (depth > CFG_MAX_DEPTH) return bienc_error(BIENC_EINVAL, "%s: mappings nested too deeply", c->name);
    char keys[CFG_MAX_MAP_KEYS][64];
    int key_lines[CFG_MAX_MAP_KEYS];
    int n_keys = 0;
    for (;;) {
        yaml_event_t ev;
        BIENC_TRY(next_event(c, &ev));
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        yaml_mark_t m = ev.start_mark;
        if (ev.type != YAML_SCALAR_EVENT) {
            int rc = at(c, &m, BIENC_EINVAL, "keys must be plain names, got %s%s", event_kind(&ev), "");
            yaml_event_delete(&ev);
            return rc;
        }
        const char *key = (const char *)ev.data.scalar.value;
        size_t klen = ev.data.scalar.length;
        char path[160];
        int rc = 0;
        if (klen == 0 || klen >= 64 || memchr(key, 0, klen) || strlen(prefix) + klen + 2 > sizeof path) {
            char shown[80];
            snprintf(shown, sizeof shown, "%.*s%s", (int)(klen < 40 ? klen : 40), key, klen > 40 ? "..." : "");
            for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20) *p = '?';
            rc = at(c, &m, BIENC_EINVAL, "invalid key '%s'%s", shown, "");
        } else {
            snprintf(path, sizeof path, "%s%s%.*s", prefix, *prefix ? "." : "", (int)klen, key);
            for (int i = 0; i < n_keys && rc == 0; i++)
                if (strcmp(keys[i], path + (*prefix ? strlen(prefix) + 1 : 0)) == 0) {
                    char first[32];
                    snprintf(first, sizeof first, "%d", key_lines[i]);
                    rc = at(c, &m, BIENC_EINVAL, "duplicate key '%s' (first at line %s)", path, first);
                }
            if (rc == 0 && n_keys == CFG_MAX_MAP_KEYS) rc = at(c, &m, BIENC_EINVAL, "too many keys in '%s'%s", prefix, "");
            if (rc == 0) {
                snprintf(keys[n_keys], sizeof keys[0], "%.*s", (int)klen, key);
                key_lines[n_keys++] = (int)m.line + 1;
            }
        }
        yaml_event_delete(&ev);
        if (rc == 0) rc = parse_pair(c, path, &m, depth);
        if (rc < 0) return rc;
    }
}

static int parse_document(parse_ctx *c)
{
    yaml_event_t ev;
    BIENC_TRY(next_event(c, &ev));  /* stream start */
    yaml_event_delete(&ev);
    BIENC_TRY(next_event(c, &ev));
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return bienc_error(BIENC_EINVAL, "%s: the config is empty (expected sections such as 'model:' and 'train:')", c->name);
    }
    yaml_event_delete(&ev);  /* document start */
    BIENC_TRY(next_event(c, &ev));
    int rc = 0;
    if (ev.type == YAML_SCALAR_EVENT && is_null(&ev))
        rc = bienc_error(BIENC_EINVAL, "%s: the config is empty (expected sections such as 'model:' and 'train:')", c->name);
    else if (ev.type != YAML_MAPPING_START_EVENT)
        rc = at(c, &ev.start_mark, BIENC_EINVAL, "the config must be a mapping of sections (model:, train:, ...), got %s%s",
                event_kind(&ev), "");
    yaml_event_delete(&ev);
    if (rc == 0) rc = parse_mapping(c, "", 0);
    if (rc < 0) return rc;
    BIENC_TRY(next_event(c, &ev));  /* document end */
    yaml_event_delete(&ev);
    BIENC_TRY(next_event(c, &ev));
    if (ev.type != YAML_STREAM_END_EVENT)
        rc = at(c, &ev.start_mark, BIENC_EINVAL, "only one YAML document is allowed in a config%s%s", "", "");
    yaml_event_delete(&ev);
    return rc;
}

int config_load_string(bienc_run_config *cfg, const char *text, size_t len, const char *name)
{
    if (!cfg || (!text && len)) return bienc_error(BIENC_EINVAL, "config_load_string: NULL argument");
    if (!name) name = "<string>";
    if (len > CFG_MAX_FILE) return bienc_error(BIENC_EINVAL, "%s: %zu bytes is too large for a config (at most %d)", name, len, CFG_MAX_FILE);
    parse_ctx c = {0};
    c.name = name;
    c.text = (const unsigned char *)(text ? text : "");
    c.len = len;
    c.cfg = cfg;
    int n;
    c.entries = cfg_entries(&n);
    c.seen_line = calloc((size_t)n, sizeof *c.seen_line);
    if (!c.seen_line) return bienc_error(BIENC_ENOMEM, "%s: out of memory", name);
    if (!yaml_parser_initialize(&c.parser)) {
        free(c.seen_line);
        return bienc_error(BIENC_ENOMEM, "%s: cannot initialise the YAML parser", name);
    }
    yaml_parser_set_input_string(&c.parser, c.text, len);
    int rc = parse_document(&c);
    yaml_parser_delete(&c.parser);
    free(c.seen_line);
    return rc;
}

int config_load_file(bienc_run_config *cfg, const char *path)
{
    if (!cfg || !path) return bienc_error(BIENC_EINVAL, "config_load_file: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return bienc_error(BIENC_EIO, "%s: cannot open the config: %s", path, strerror(errno));
    char *buf = malloc(CFG_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
    }
    errno = 0;
    size_t len = fread(buf, 1, CFG_MAX_FILE + 1, f);
    int err = ferror(f) ? (errno ? errno : EIO) : 0; /* EISDIR for a directory */
    fclose(f);
    int rc;
    if (err) rc = bienc_error(BIENC_EIO, "%s: cannot read the config: %s", path, strerror(err));
    else if (len > CFG_MAX_FILE) rc = bienc_error(BIENC_EINVAL, "%s: larger than %d bytes: not a config", path, CFG_MAX_FILE);
    else rc = config_load_string(cfg, buf, len, path);
    free(buf);
    if (rc == 0) {
        char *src = strdup(path);
        if (!src) return bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
        free(cfg->source);
        cfg->source = src;
    }
    return rc;
}

/* ---- --set KEY=VALUE ---- */

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) (*len)--;
}

int config_set_override(bienc_run_config *cfg, const char *assignment)
{
    if (!cfg || !assignment) return bienc_error(BIENC_EINVAL, "config_set_override: NULL argument");
    const char *eq = strchr(assignment, '=');
    if (!eq) return bienc_error(BIENC_EINVAL, "--set expects KEY=VALUE (e.g. optim.lr=3e-5), got '%.80s'", assignment);
    const char *k = assignment, *v = eq + 1;
    size_t klen = (size_t)(eq - assignment), vlen = strlen(v);
    trim(&k, &klen);
    trim(&v, &vlen);
    char key[96], alias_buf[96];
    if (klen == 0 || klen >= sizeof key) return bienc_error(BIENC_EINVAL, "--set: invalid key in '%.80s'", assignment);
    memcpy(key, k, klen);
    key[klen] = 0;
    const char *path = cfg_resolve_alias(key, alias_buf, sizeof alias_buf);
    const cfg_entry *e = cfg_find(path);
    if (!e) {
        if (cfg_is_section(path))
            return bienc_error(BIENC_EINVAL, "--set %s: '%s' is a section; give one of its keys (`bienc config --keys`)", key, path);
        const char *near = cfg_suggest(path);
        return bienc_error(BIENC_EINVAL, "--set %s: unknown key '%s'%s%s%s", key, path, near ? " (did you mean '" : "",
                           near ? near : "", near ? "'?)" : "");
    }
    int rc;
    if (e->key->type == BIENC_CFG_INTS || e->key->type == BIENC_CFG_FLOATS) {
        /* "[1, 5, 10]" or "1,5,10" */
        if (vlen >= 2 && v[0] == '[' && v[vlen - 1] == ']') {
            v++;
            vlen -= 2;
        }
        const char *items[BIENC_CFG_MAX_LIST + 1];
        size_t lens[BIENC_CFG_MAX_LIST + 1];
        int n = 0;
        size_t i = 0;
        while (i <= vlen && n <= BIENC_CFG_MAX_LIST && vlen > 0) {
            size_t j = i;
            while (j < vlen && v[j] != ',') j++;
            items[n] = v + i;
            lens[n] = j - i;
            trim(&items[n], &lens[n]);
            n++;
            i = j + 1;
        }
        rc = cfg_set_list(cfg, e, items, lens, n);
    } else {
        rc = cfg_set_scalar(cfg, e, vlen || e->key->type == BIENC_CFG_STRING ? v : NULL, vlen);
    }
    if (rc < 0) return bienc_error_context(rc, "--set %s: ", key);
    return 0;
}

int config_load(bienc_run_config *cfg, const char *path, const char *const *overrides, int n_overrides)
{
    BIENC_TRY(config_init(cfg));
    if (path) BIENC_TRY(config_load_file(cfg, path));
    for (int i = 0; i < n_overrides; i++) BIENC_TRY(config_set_override(cfg, overrides[i]));
    int rc = config_finalize(cfg);
    if (rc < 0 && path) return bienc_error_context(rc, "%s: ", path);
    return rc;
}
