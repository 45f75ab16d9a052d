/* The readers' shared pieces: mapped files, line iteration, row errors, id checks and
 * the id hash index. */
#include "data/data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/ids.h"

/* Reads a non-regular file (pipe, character device) into memory: it cannot be mapped. */
static int read_stream(data_file *f, int fd)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return bienc_error(BIENC_ENOMEM, "%s: out of memory", f->path);
    for (;;) {
        if (n == cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return bienc_error(BIENC_ENOMEM, "%s: out of memory", f->path);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            free(buf);
            return bienc_error(BIENC_EIO, "%s: read failed: %s", f->path, strerror(errno));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    f->base = buf;
    f->size = n;
    f->mapped = 0;
    return 0;
}

int data_file_open(data_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    if (!path) return bienc_error(BIENC_EINVAL, "data: NULL path");
    f->path = strdup(path);
    if (!f->path) return bienc_error(BIENC_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int code = errno == ENOENT ? BIENC_ENOTFOUND : BIENC_EIO;
        int rc = bienc_error(code, "%s: cannot open: %s", path, strerror(errno));
        data_file_close(f);
        return rc;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = bienc_error(BIENC_EIO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = bienc_error(BIENC_EIO, "%s: is a directory", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = read_stream(f, fd);
    } else if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc = bienc_error(BIENC_EIO, "%s: cannot map: %s", path, strerror(errno));
        } else {
            /* One pass from start to end while indexing: let the kernel read ahead. */
            madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
            f->base = p;
            f->size = (size_t)st.st_size;
            f->mapped = 1;
        }
    }
    close(fd);
    if (rc < 0) data_file_close(f);
    return rc;
}

void data_file_close(data_file *f)
{
    if (!f) return;
    if (f->base) {
        if (f->mapped)
            munmap((void *)f->base, f->size);
        else
            free((void *)f->base);
    }
    free(f->path);
    memset(f, 0, sizeof *f);
}

int data_next_line(const char *base, size_t size, size_t *pos, int64_t *lineno, data_line *line)
{
    while (*pos < size) {
        size_t start = *pos;
        const char *nl = memchr(base + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - base) : size;
        *pos = nl ? end + 1 : size;
        ++*lineno;
        if (start == 0 && end >= 3 && memcmp(base, "\xEF\xBB\xBF", 3) == 0) start = 3;
        size_t len = end - start;
        if (len > 0 && base[start + len - 1] == '\r') len--;
        if (len == 0) continue;
        line->p = base + start;
        line->len = len;
        line->off = start;
        line->lineno = *lineno;
        return 1;
    }
    return 0;
}

void data_rows_init(data_rows *r, const char *path, const bienc_read_opts *opts)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->skip_malformed = opts ? opts->skip_malformed : 0;
    r->numeric_ids = opts ? opts->numeric_ids : 0;
}

int data_bad_row(data_rows *r, int64_t lineno, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->skip_malformed) {
        if (r->rep.n_skipped++ == 0)
            snprintf(r->rep.first_skip, sizeof r->rep.first_skip, "%.120s:%lld: %.110s", r->path, (long long)lineno, msg);
        return 1;
    }
    return bienc_error(BIENC_EFORMAT, "%s:%lld: %s", r->path, (long long)lineno, msg);
}

void data_rows_report(const data_rows *r, bienc_read_report *out)
{
    if (out) *out = r->rep;
}

const char *data_id_problem(const char *s, size_t len, int numeric)
{
    const char *why = id_problem(s, len);
    if (why) return why;
    for (size_t i = 0; numeric && i < len; i++)
        if (s[i] < '0' || s[i] > '9') return "id is not a decimal integer";
    if (numeric && len > 18) return "numeric id too large";
    return NULL;
}

int data_split_tabs(const char *p, size_t len, const char **f, size_t *flen, int max)
{
    int n = 0;
    size_t start = 0;
    for (;;) {
        const char *t = memchr(p + start, '\t', len - start);
        size_t end = t ? (size_t)(t - p) : len;
        if (n < max) {
            f[n] = p + start;
            flen[n] = end - start;
        }
        n++;
        if (!t) return n;
        start = end + 1;
    }
}

uint64_t data_hash_bytes(const char *s, size_t len, uint64_t seed)
{
    uint64_t h = 0xCBF29CE484222325ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001B3ull;
    }
    /* FNV's low bits mix poorly; a final avalanche makes masking by a power of two safe. */
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

int data_index_init(data_index *ix, int64_t n_rows)
{
    memset(ix, 0, sizeof *ix);
    if (n_rows < 0 || n_rows >= (int64_t)UINT32_MAX - 1)
        return bienc_error(BIENC_ERANGE, "data: %lld rows are too many for one store", (long long)n_rows);
    /* Load factor <= 0.75. */
    uint64_t cap = 16;
    while (cap * 3 < (uint64_t)n_rows * 4 + 4) cap *= 2;
    ix->slot = calloc(cap, sizeof *ix->slot);
    if (!ix->slot) return bienc_error(BIENC_ENOMEM, "data: out of memory for an id index of %llu slots",
                                      (unsigned long long)cap);
    ix->mask = cap - 1;
    return 0;
}

void data_index_free(data_index *ix)
{
    if (!ix) return;
    free(ix->slot);
    memset(ix, 0, sizeof *ix);
}

static int64_t index_probe(const data_index *ix, const void *ctx, data_id_fn get, const char *id, size_t len,
                           uint64_t *where)
{
    uint64_t i = data_hash_bytes(id, len, 0) & ix->mask;
    for (;;) {
        uint32_t s = ix->slot[i];
        if (s == 0) {
            *where = i;
            return -1;
        }
        const char *other;
        size_t olen;
        get(ctx, (int64_t)s - 1, &other, &olen);
        if (olen == len && memcmp(other, id, len) == 0) {
            *where = i;
            return (int64_t)s - 1;
        }
        i = (i + 1) & ix->mask;
    }
}

int64_t data_index_insert(data_index *ix, const void *ctx, data_id_fn get, const char *id, size_t len, int64_t row)
{
    uint64_t where;
    int64_t found = index_probe(ix, ctx, get, id, len, &where);
    if (found >= 0) return found;
    ix->slot[where] = (uint32_t)(row + 1);
    return -1;
}

int64_t data_index_find(const data_index *ix, const void *ctx, data_id_fn get, const char *id, size_t len)
{
    if (!ix->slot) return -1;
    uint64_t where;
    return index_probe(ix, ctx, get, id, len, &where);
}

int data_grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return 0;
    int64_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    if ((uint64_t)nc > SIZE_MAX / elem) return bienc_error(BIENC_ENOMEM, "data: array too large");
    void *np = realloc(*p, (size_t)nc * elem);
    if (!np) return bienc_error(BIENC_ENOMEM, "data: out of memory (%lld items)", (long long)nc);
    *p = np;
    *cap = nc;
    return 0;
}
