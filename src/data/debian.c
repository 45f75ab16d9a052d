/* The built-in data set: Debian package descriptions as an MS MARCO style retrieval set.
 * A package's short description ("small, powerful, scalable web/proxy server") is the
 * query, its long description the one relevant passage. Layout of the output files:
 * docs/data-formats.md ("Data sets").
 *
 * Sources, in order of preference:
 *  - apt: /var/lib/apt/lists/ *_i18n_Translation-en[.lz4|.gz|.xz|.zst|.bz2] (stanzas of
 *    Package, Description-md5, Description-en), ~60k packages after deduplication; the
 *    compressed lists are read through `apt-helper cat-file` (part of apt, which knows
 *    every compression apt writes) or else lz4cat / zcat / xzcat / zstdcat / bzcat;
 *  - dpkg: /var/lib/dpkg/status (Description of the installed packages only: small). */
#include <errno.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/data.h"
#include "core/error.h"
#include "data/debian_internal.h"
#include "data/data_internal.h"
#include "core/os.h"

extern char **environ;

#define APT_HELPER "/usr/lib/apt/apt-helper"
#define APT_HINT "run `apt-get update -o Acquire::Languages=en` (as root) to get the English descriptions of ~60k packages"

void debian_default_opts(bienc_debian_opts *o)
{
    memset(o, 0, sizeof *o);
    o->output_dir = "data/debian";
    o->seed = 42;
    o->source = DEBIAN_SOURCE_AUTO;
    o->apt_lists_dir = "/var/lib/apt/lists";
    o->dpkg_status = "/var/lib/dpkg/status";
}

/* ---- reading a (possibly compressed) list through a child process ---- */

typedef struct deb_stream {
    FILE *f;
    pid_t child;   /* 0 when f is the file itself */
} deb_stream;

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? dot : "";
}

static int is_exec(const char *p) { return access(p, X_OK) == 0; }

/* A decompressor for this extension found on PATH, or NULL. */
static const char *tool_for(const char *ext)
{
    static const struct { const char *ext, *tool; } tools[] = {
        {".lz4", "lz4cat"}, {".gz", "zcat"}, {".xz", "xzcat"}, {".zst", "zstdcat"}, {".bz2", "bzcat"}};
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        if (strcmp(ext, tools[i].ext) != 0) continue;
        const char *path = getenv("PATH");
        if (!path) path = "/usr/bin:/bin";
        char buf[4096];
        for (const char *p = path; *p;) {
            const char *c = strchr(p, ':');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            if (n > 0 && n + strlen(tools[i].tool) + 2 < sizeof buf) {
                snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, tools[i].tool);
                if (is_exec(buf)) return tools[i].tool;
            }
            p += n + (c ? 1 : 0);
        }
    }
    return NULL;
}

static int deb_stream_open(deb_stream *s, const char *path)
{
    memset(s, 0, sizeof *s);
    const char *ext = ext_of(path);
    int compressed = strcmp(ext, ".lz4") == 0 || strcmp(ext, ".gz") == 0 || strcmp(ext, ".xz") == 0 ||
                     strcmp(ext, ".zst") == 0 || strcmp(ext, ".bz2") == 0;
    if (!compressed) {
        s->f = fopen(path, "r");
        if (!s->f) return bienc_error(BIENC_EIO, "%s: cannot open: %s", path, strerror(errno));
        return 0;
    }
    char *argv[4];
    if (is_exec(APT_HELPER)) {
        argv[0] = (char *)APT_HELPER;
        argv[1] = (char *)"cat-file";
        argv[2] = (char *)path;
        argv[3] = NULL;
    } else {
        const char *tool = tool_for(ext);
        if (!tool)
            return bienc_error(BIENC_ENOTFOUND, "%s: no decompressor for %s files (install apt or the tool for %s)",
                               path, ext, ext);
        argv[0] = (char *)tool;
        argv[1] = (char *)path;
        argv[2] = NULL;
    }
    int fd[2];
    if (pipe(fd) != 0) return bienc_error(BIENC_EIO, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    int rc = posix_spawnp(&s->child, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc != 0) {
        close(fd[0]);
        s->child = 0;
        return bienc_error(BIENC_EIO, "%s: cannot run %s: %s", path, argv[0], strerror(rc));
    }
    s->f = fdopen(fd[0], "r");
    if (!s->f) {
        close(fd[0]);
        waitpid(s->child, NULL, 0);
        s->child = 0;
        return bienc_error(BIENC_EIO, "fdopen: %s", strerror(errno));
    }
    return 0;
}

/* Closes the stream; an error when the decompressor failed. */
static int deb_stream_close(deb_stream *s, const char *path)
{
    if (s->f) fclose(s->f);
    s->f = NULL;
    if (!s->child) return 0;
    int status = 0;
    while (waitpid(s->child, &status, 0) < 0 && errno == EINTR) {}
    s->child = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return bienc_error(BIENC_EIO, "%s: decompression failed (exit status %d)", path,
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}


/* ---- parsing stanzas ---- */

void deb_entries_init(deb_entries *es) { memset(es, 0, sizeof *es); }

void deb_entries_free(deb_entries *es)
{
    if (!es) return;
    for (int64_t i = 0; i < es->n; i++) {
        free(es->e[i].pkg);
        free(es->e[i].query);
        free(es->e[i].passage);
    }
    free(es->e);
    memset(es, 0, sizeof *es);
}

/* A growable byte string. */
typedef struct sbuf {
    char *p;
    int64_t len, cap;
} sbuf;

static int sbuf_put(sbuf *b, const char *s, size_t n)
{
    BIENC_TRY(data_grow((void **)&b->p, &b->cap, b->len + (int64_t)n + 1, 1));
    memcpy(b->p + b->len, s, n);
    b->len += (int64_t)n;
    b->p[b->len] = '\0';
    return 0;
}

/* Whitespace runs become one space, other control bytes are dropped, ends trimmed: the
 * result has no tab or newline, so it fits a TSV field. Returns a heap copy. */
static char *normalize(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t k = 0;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            space = 1;
            continue;
        }
        if (c < 0x20 || c == 0x7F) continue;
        if (space && k > 0) out[k++] = ' ';
        space = 0;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return out;
}

typedef struct stanza {
    sbuf pkg, md5, query, passage;
    int in_desc;      /* continuation lines belong to the description */
} stanza;

static void stanza_clear(stanza *s)
{
    s->pkg.len = s->md5.len = s->query.len = s->passage.len = 0;
    s->in_desc = 0;
}

static int stanza_finish(deb_entries *es, stanza *s)
{
    if (s->pkg.len == 0 || s->query.len == 0) {
        stanza_clear(s);
        return 0;
    }
    BIENC_TRY(data_grow((void **)&es->e, &es->cap, es->n + 1, sizeof *es->e));
    deb_entry *e = &es->e[es->n];
    memset(e, 0, sizeof *e);
    e->pkg = normalize(s->pkg.p, (size_t)s->pkg.len);
    e->query = normalize(s->query.p, (size_t)s->query.len);
    e->passage = normalize(s->passage.p ? s->passage.p : "", (size_t)s->passage.len);
    if (!e->pkg || !e->query || !e->passage) {
        free(e->pkg);
        free(e->query);
        free(e->passage);
        return bienc_error(BIENC_ENOMEM, "out of memory");
    }
    if (s->md5.len > 0) {
        e->desc_hash = data_hash_bytes(s->md5.p, (size_t)s->md5.len, 0x6d6435);
    } else {
        e->desc_hash = data_hash_bytes(e->query, strlen(e->query), 0x746578);
        e->desc_hash ^= data_hash_bytes(e->passage, strlen(e->passage), e->desc_hash);
    }
    e->split = -1;
    es->n++;
    stanza_clear(s);
    return 0;
}

/* "Name: value" when the line starts with the field name (case-insensitive, as in RFC 822). */
static const char *field_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':') return NULL;
    const char *v = line + k + 1;
    while (*v == ' ' || *v == '\t') v++;
    return v;
}

static int parse_line(deb_entries *es, stanza *s, char *line, size_t n)
{
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0) return stanza_finish(es, s);
    if (line[0] == ' ' || line[0] == '\t') {
        if (!s->in_desc) return 0;
        const char *c = line + 1;
        size_t cn = n - 1;
        /* " ." is a paragraph break; anything else is text (verbatim lines included). */
        if (cn == 1 && c[0] == '.') return sbuf_put(&s->passage, " ", 1);
        BIENC_TRY(sbuf_put(&s->passage, c, cn));
        return sbuf_put(&s->passage, " ", 1);
    }
    s->in_desc = 0;
    const char *v;
    if ((v = field_value(line, n, "Package"))) {
        s->pkg.len = 0;
        return sbuf_put(&s->pkg, v, strlen(v));
    }
    if ((v = field_value(line, n, "Description-md5"))) {
        s->md5.len = 0;
        return sbuf_put(&s->md5, v, strlen(v));
    }
    if ((v = field_value(line, n, "Description-en")) || (v = field_value(line, n, "Description"))) {
        s->query.len = s->passage.len = 0;
        s->in_desc = 1;
        return sbuf_put(&s->query, v, strlen(v));
    }
    return 0;
}

int deb_read_file(deb_entries *es, const char *path)
{
    deb_stream st;
    BIENC_TRY(deb_stream_open(&st, path));
    stanza s;
    memset(&s, 0, sizeof s);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, st.f)) >= 0) rc = parse_line(es, &s, line, (size_t)n);
    if (rc == 0) rc = stanza_finish(es, &s);
    free(line);
    free(s.pkg.p);
    free(s.md5.p);
    free(s.query.p);
    free(s.passage.p);
    int rc2 = deb_stream_close(&st, path);
    return rc < 0 ? rc : rc2;
}

/* ---- finding the sources ---- */

static int glob_lists(const char *dir, glob_t *g)
{
    char pat[4096];
    memset(g, 0, sizeof *g);
    snprintf(pat, sizeof pat, "%s/*_i18n_Translation-en", dir);
    int rc = glob(pat, 0, NULL, g);
    snprintf(pat, sizeof pat, "%s/*_i18n_Translation-en.*", dir);
    rc = glob(pat, rc == 0 ? GLOB_APPEND : 0, NULL, g);
    (void)rc;
    return (int)g->gl_pathc;
}

int debian_build(const bienc_debian_opts *o, bienc_debian_stats *stats)
{
    if (!o || !o->output_dir) return bienc_error(BIENC_EINVAL, "debian_build: NULL options or output directory");
    bienc_debian_stats st;
    memset(&st, 0, sizeof st);
    const char *lists = o->apt_lists_dir ? o->apt_lists_dir : "/var/lib/apt/lists";
    const char *status = o->dpkg_status ? o->dpkg_status : "/var/lib/dpkg/status";

    deb_entries es;
    deb_entries_init(&es);
    int rc = 0;
    glob_t g;
    int n_lists = o->source == DEBIAN_SOURCE_DPKG ? 0 : glob_lists(lists, &g);
    if (n_lists > 0) {
        snprintf(st.source, sizeof st.source, "apt");
        for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
            if (o->verbose) fprintf(stderr, "reading %s\n", g.gl_pathv[i]);
            rc = deb_read_file(&es, g.gl_pathv[i]);
            st.n_files++;
        }
    }
    if (o->source != DEBIAN_SOURCE_DPKG) globfree(&g);
    if (n_lists > 0) {
    } else if (o->source == DEBIAN_SOURCE_APT) {
        return bienc_error(BIENC_ENOTFOUND, "no *_i18n_Translation-en* lists in %s: %s", lists, APT_HINT);
    } else {
        st.fell_back = 1;
        snprintf(st.source, sizeof st.source, "dpkg");
        rc = deb_read_file(&es, status);
        st.n_files = 1;
    }
    if (rc == 0 && es.n == 0)
        rc = bienc_error(BIENC_ENOTFOUND, "no package descriptions found in the %s sources%s", st.source,
                         strcmp(st.source, "dpkg") == 0 ? "; " APT_HINT : "");
    if (rc == 0) rc = os_mkdir_p(o->output_dir);
    if (rc == 0) rc = deb_select(&es, &st);
    if (rc == 0) rc = deb_write(&es, o->output_dir, o->seed, &st);
    deb_entries_free(&es);
    if (rc < 0) return rc;
    if (stats) *stats = st;
    return 0;
}
