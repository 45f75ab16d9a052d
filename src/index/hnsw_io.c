/* The HNSW index file: atomic save, and a loader that trusts nothing it reads.
 * Layout (little-endian; full description in docs/index-format.md):
 *   header (200 bytes): magic, version, header size, dim, metric, M, M0,
 *     ef_construction, max_level, entry, flags, seed, count, n_deleted, a table of
 *     5 sections (offset, size, CRC-32C), and the header's own CRC-32C
 *   sections, back to back: elements (vector + level-0 links per element), levels,
 *     upper links, deleted marks, names (offsets + bytes)
 * The loader checks the header CRC, then every count against the file size before it
 * allocates anything, then each section's CRC, then the graph's invariants. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/tensor.h"
#include "core/atomic_file.h"
#include "core/crc32c.h"
#include "core/ids.h"
#include "index/hnsw_internal.h"

#define HNSW_MAGIC "BIENCHNW"
#define HNSW_VERSION 1u
#define HNSW_HEADER_SIZE 200u
#define HNSW_NSECT 5
#define HNSW_FLAG_NAMES 1u

enum { SEC_ELEMENTS, SEC_LEVELS, SEC_UPPER, SEC_DELETED, SEC_NAMES };
static const char *sect_name[HNSW_NSECT] = {"elements", "levels", "upper links", "deleted marks", "names"};

/* ---- CRC-32C ---- */

uint32_t hnsw_crc32c(uint32_t crc, const void *data, size_t n) { return crc32c(crc, data, n); }

/* ---- header encoding ---- */

typedef struct sect {
    uint64_t offset, size;
    uint32_t crc;
} sect;

typedef struct header {
    uint32_t version, header_size, dim, metric, M, M0, ef_construction, flags;
    int32_t max_level, entry;
    uint64_t seed, count, n_deleted;
    sect s[HNSW_NSECT];
} header;

static void put32(unsigned char *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(unsigned char *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }
static uint32_t get32(const unsigned char *b, size_t off)
{
    uint32_t v;
    memcpy(&v, b + off, 4);
    return v;
}
static uint64_t get64(const unsigned char *b, size_t off)
{
    uint64_t v;
    memcpy(&v, b + off, 8);
    return v;
}

static void header_encode(const header *hd, unsigned char *b)
{
    memset(b, 0, HNSW_HEADER_SIZE);
    memcpy(b, HNSW_MAGIC, 8);
    put32(b, 8, hd->version);
    put32(b, 12, hd->header_size);
    put32(b, 16, hd->dim);
    put32(b, 20, hd->metric);
    put32(b, 24, hd->M);
    put32(b, 28, hd->M0);
    put32(b, 32, hd->ef_construction);
    put32(b, 36, (uint32_t)hd->max_level);
    put32(b, 40, (uint32_t)hd->entry);
    put32(b, 44, hd->flags);
    put64(b, 48, hd->seed);
    put64(b, 56, hd->count);
    put64(b, 64, hd->n_deleted);
    for (int i = 0; i < HNSW_NSECT; i++) {
        put64(b, 72 + 24 * i, hd->s[i].offset);
        put64(b, 80 + 24 * i, hd->s[i].size);
        put32(b, 88 + 24 * i, hd->s[i].crc);
    }
    put32(b, 192, hnsw_crc32c(0, b, 192));
}

static void header_decode(const unsigned char *b, header *hd)
{
    hd->version = get32(b, 8);
    hd->header_size = get32(b, 12);
    hd->dim = get32(b, 16);
    hd->metric = get32(b, 20);
    hd->M = get32(b, 24);
    hd->M0 = get32(b, 28);
    hd->ef_construction = get32(b, 32);
    hd->max_level = (int32_t)get32(b, 36);
    hd->entry = (int32_t)get32(b, 40);
    hd->flags = get32(b, 44);
    hd->seed = get64(b, 48);
    hd->count = get64(b, 56);
    hd->n_deleted = get64(b, 64);
    for (int i = 0; i < HNSW_NSECT; i++) {
        hd->s[i].offset = get64(b, 72 + 24 * i);
        hd->s[i].size = get64(b, 80 + 24 * i);
        hd->s[i].crc = get32(b, 88 + 24 * i);
    }
}

/* ---- saving ---- */

/* A writer that checksums what it writes. */
typedef struct writer {
    FILE *f;
    uint32_t crc;
    uint64_t n;
    int err;
} writer;

static void w_put(writer *w, const void *p, size_t n)
{
    if (w->err || n == 0) return;
    if (fwrite(p, 1, n, w->f) != n) w->err = errno ? errno : EIO;
    w->crc = hnsw_crc32c(w->crc, p, n);
    w->n += n;
}

static void w_begin(writer *w, sect *s, uint64_t offset)
{
    w->crc = 0;
    w->n = 0;
    s->offset = offset;
}

static void w_end(writer *w, sect *s)
{
    s->size = w->n;
    s->crc = w->crc;
}

static void write_sections(const bienc_hnsw *h, writer *w, header *hd)
{
    uint64_t off = HNSW_HEADER_SIZE;
    size_t vbytes = (size_t)h->p.dim * sizeof(float), lbytes = (size_t)(1 + h->M0) * sizeof(int32_t);
    w_begin(w, &hd->s[SEC_ELEMENTS], off);
    for (int64_t i = 0; i < h->count; i++) {
        w_put(w, hnsw_vec(h, i), vbytes);
        w_put(w, hnsw_l0(h, i), lbytes);
    }
    w_end(w, &hd->s[SEC_ELEMENTS]);
    off += w->n;
    w_begin(w, &hd->s[SEC_LEVELS], off);
    w_put(w, h->levels, (size_t)h->count);
    w_end(w, &hd->s[SEC_LEVELS]);
    off += w->n;
    w_begin(w, &hd->s[SEC_UPPER], off);
    for (int64_t i = 0; i < h->count; i++)
        if (h->levels[i]) w_put(w, h->upper[i], (size_t)h->levels[i] * (size_t)(1 + h->p.M) * sizeof(int32_t));
    w_end(w, &hd->s[SEC_UPPER]);
    off += w->n;
    w_begin(w, &hd->s[SEC_DELETED], off);
    w_put(w, h->deleted, (size_t)h->count);
    w_end(w, &hd->s[SEC_DELETED]);
    off += w->n;
    w_begin(w, &hd->s[SEC_NAMES], off);
    if (h->has_names) {
        uint64_t o = 0;
        w_put(w, &o, 8);
        for (int64_t i = 0; i < h->count; i++) {
            o += strlen(h->names[i]);
            w_put(w, &o, 8);
        }
        for (int64_t i = 0; i < h->count; i++) w_put(w, h->names[i], strlen(h->names[i]));
    }
    w_end(w, &hd->s[SEC_NAMES]);
}

int hnsw_save(const bienc_hnsw *h, const char *path)
{
    if (!h || !path) return bienc_error(BIENC_EINVAL, "hnsw_save: NULL argument");
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    FILE *f = out.f;
    header hd = {0};
    hd.version = HNSW_VERSION;
    hd.header_size = HNSW_HEADER_SIZE;
    hd.dim = (uint32_t)h->p.dim;
    hd.metric = (uint32_t)h->p.metric;
    hd.M = (uint32_t)h->p.M;
    hd.M0 = (uint32_t)h->M0;
    hd.ef_construction = (uint32_t)h->p.ef_construction;
    hd.max_level = h->max_level;
    hd.entry = h->entry;
    hd.flags = h->has_names ? HNSW_FLAG_NAMES : 0;
    hd.seed = h->p.seed;
    hd.count = (uint64_t)h->count;
    hd.n_deleted = (uint64_t)h->n_deleted;
    unsigned char hb[HNSW_HEADER_SIZE];
    writer w = {f, 0, 0, 0};
    /* placeholder header first; rewritten once the section checksums are known */
    memset(hb, 0, sizeof hb);
    w_put(&w, hb, sizeof hb);
    write_sections(h, &w, &hd);
    header_encode(&hd, hb);
    if (!w.err && (fseek(f, 0, SEEK_SET) != 0 || fwrite(hb, 1, sizeof hb, f) != sizeof hb)) w.err = errno ? errno : EIO;
    if (w.err) {
        atomic_file_abort(&out);
        return bienc_error(BIENC_EIO, "%s: write failed: %s", path, strerror(w.err));
    }
    return atomic_file_commit(&out);
}

/* ---- loading ---- */

/* Reads from a FILE or a memory buffer, with a running checksum. */
typedef struct reader {
    FILE *f;
    const unsigned char *mem;
    uint64_t size, pos;
    uint32_t crc;
} reader;

static int r_get(reader *r, void *dst, size_t n)
{
    if (n > r->size - r->pos) return -1;
    if (r->f) {
        if (fread(dst, 1, n, r->f) != n) return -1;
    } else {
        memcpy(dst, r->mem + r->pos, n);
    }
    r->pos += n;
    r->crc = hnsw_crc32c(r->crc, dst, n);
    return 0;
}

#define FAIL(...) bienc_error(BIENC_EFORMAT, __VA_ARGS__)

static int check_header(const header *hd, uint64_t file_size, const char *what)
{
    if (hd->version != HNSW_VERSION)
        return FAIL("%s: unsupported index version %u (this build reads version %u)", what, hd->version, HNSW_VERSION);
    if (hd->header_size != HNSW_HEADER_SIZE) return FAIL("%s: header size %u, expected %u", what, hd->header_size,
                                                         HNSW_HEADER_SIZE);
    if (hd->dim < 1 || hd->dim > HNSW_MAX_DIM) return FAIL("%s: dimension %u outside 1..%d", what, hd->dim, HNSW_MAX_DIM);
    if (hd->metric > BIENC_INDEX_COSINE) return FAIL("%s: unknown metric %u", what, hd->metric);
    if (hd->M < 2 || hd->M > HNSW_MAX_M) return FAIL("%s: M=%u outside 2..%d", what, hd->M, HNSW_MAX_M);
    if (hd->M0 != 2 * hd->M) return FAIL("%s: M0=%u is not 2*M=%u", what, hd->M0, 2 * hd->M);
    if (hd->ef_construction < 1 || hd->ef_construction > 1000000)
        return FAIL("%s: ef_construction=%u outside 1..1000000", what, hd->ef_construction);
    if (hd->flags & ~HNSW_FLAG_NAMES) return FAIL("%s: unknown flags 0x%x", what, hd->flags);
    if (hd->count > INT32_MAX) return FAIL("%s: element count %llu exceeds the int32 id range", what,
                                           (unsigned long long)hd->count);
    if (hd->n_deleted > hd->count) return FAIL("%s: %llu deleted of %llu elements", what,
                                               (unsigned long long)hd->n_deleted, (unsigned long long)hd->count);
    if (hd->count == 0 ? (hd->max_level != -1 || hd->entry != -1)
                       : (hd->max_level < 0 || hd->max_level >= HNSW_MAX_LEVEL || hd->entry < 0 ||
                          (uint64_t)hd->entry >= hd->count))
        return FAIL("%s: entry point %d / top level %d invalid for %llu elements", what, hd->entry, hd->max_level,
                    (unsigned long long)hd->count);
    /* sections: back to back after the header, ending exactly at the end of the file */
    uint64_t rec = (uint64_t)hd->dim * 4 + (uint64_t)(1 + hd->M0) * 4;
    uint64_t expect[HNSW_NSECT] = {hd->count * rec, hd->count, 0, hd->count, 0};
    uint64_t off = HNSW_HEADER_SIZE;
    for (int i = 0; i < HNSW_NSECT; i++) {
        if (hd->s[i].offset != off)
            return FAIL("%s: section '%s' at offset %llu, expected %llu", what, sect_name[i],
                        (unsigned long long)hd->s[i].offset, (unsigned long long)off);
        if ((i == SEC_ELEMENTS || i == SEC_LEVELS || i == SEC_DELETED) && hd->s[i].size != expect[i])
            return FAIL("%s: section '%s' has %llu bytes, expected %llu", what, sect_name[i],
                        (unsigned long long)hd->s[i].size, (unsigned long long)expect[i]);
        if (hd->s[i].size > file_size - off)
            return FAIL("%s: truncated: section '%s' needs %llu bytes at offset %llu, the file has %llu", what,
                        sect_name[i], (unsigned long long)hd->s[i].size, (unsigned long long)off,
                        (unsigned long long)file_size);
        off += hd->s[i].size;
    }
    if (hd->s[SEC_UPPER].size % ((1 + hd->M) * 4))
        return FAIL("%s: upper-links section size %llu is not a multiple of %u", what,
                    (unsigned long long)hd->s[SEC_UPPER].size, (1 + hd->M) * 4);
    if (!(hd->flags & HNSW_FLAG_NAMES) && hd->s[SEC_NAMES].size != 0)
        return FAIL("%s: names section present but the names flag is off", what);
    if ((hd->flags & HNSW_FLAG_NAMES) && hd->s[SEC_NAMES].size < (hd->count + 1) * 8)
        return FAIL("%s: names section of %llu bytes cannot hold %llu offsets", what,
                    (unsigned long long)hd->s[SEC_NAMES].size, (unsigned long long)hd->count + 1);
    if (off != file_size)
        return FAIL("%s: %llu bytes after the last section (file %llu bytes, sections end at %llu)", what,
                    (unsigned long long)(file_size - off), (unsigned long long)file_size, (unsigned long long)off);
    return 0;
}

static int check_crc(reader *r, const header *hd, int i, unsigned flags, const char *what)
{
    if (!(flags & HNSW_LOAD_SKIP_CHECKSUM) && r->crc != hd->s[i].crc)
        return FAIL("%s: checksum mismatch in section '%s' (stored %08x, computed %08x): the file is corrupt", what,
                    sect_name[i], hd->s[i].crc, r->crc);
    r->crc = 0;
    return 0;
}

static int read_body(bienc_hnsw *h, reader *r, const header *hd, unsigned flags, const char *what)
{
    int64_t n = (int64_t)hd->count;
    int dim = (int)hd->dim;
    size_t vbytes = (size_t)dim * 4, lbytes = (size_t)(1 + h->M0) * 4;
    r->crc = 0;
    for (int64_t i = 0; i < n; i++) {
        char *blk = h->data + (size_t)i * h->stride;
        memset(blk + vbytes + lbytes, 0, h->stride - vbytes - lbytes);
        if (r_get(r, blk, vbytes) || r_get(r, blk + h->links0_offset, lbytes))
            return FAIL("%s: truncated in section 'elements' at element %lld", what, (long long)i);
        int col;
        if (vectors_first_bad((const float *)blk, 1, dim, &col) == 0)
            return col >= 0 ? FAIL("%s: element %lld has a non-finite value at column %d", what, (long long)i, col)
                            : FAIL("%s: element %lld has a norm above %g: its scores would overflow", what, (long long)i,
                                   BIENC_MAX_VECTOR_NORM);
    }
    h->count = n; /* from here on hnsw_free releases per-element allocations */
    BIENC_TRY(check_crc(r, hd, SEC_ELEMENTS, flags, what));
    if (r_get(r, h->levels, (size_t)n)) return FAIL("%s: truncated in section 'levels'", what);
    BIENC_TRY(check_crc(r, hd, SEC_LEVELS, flags, what));
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (h->levels[i] > hd->max_level)
            return FAIL("%s: element %lld has level %d above the top level %d", what, (long long)i, h->levels[i],
                        hd->max_level);
        total += h->levels[i];
    }
    uint64_t per = (uint64_t)(1 + h->p.M) * 4;
    if (total * per != hd->s[SEC_UPPER].size)
        return FAIL("%s: upper-links section has %llu bytes, the levels need %llu", what,
                    (unsigned long long)hd->s[SEC_UPPER].size, (unsigned long long)(total * per));
    for (int64_t i = 0; i < n; i++) {
        if (!h->levels[i]) continue;
        h->upper[i] = malloc((size_t)(h->levels[i] * per));
        if (!h->upper[i]) return bienc_error(BIENC_ENOMEM, "%s: out of memory", what);
        if (r_get(r, h->upper[i], (size_t)(h->levels[i] * per)))
            return FAIL("%s: truncated in section 'upper links'", what);
    }
    BIENC_TRY(check_crc(r, hd, SEC_UPPER, flags, what));
    if (r_get(r, h->deleted, (size_t)n)) return FAIL("%s: truncated in section 'deleted marks'", what);
    BIENC_TRY(check_crc(r, hd, SEC_DELETED, flags, what));
    int64_t nd = 0;
    for (int64_t i = 0; i < n; i++) {
        if (h->deleted[i] > 1) return FAIL("%s: deleted mark of element %lld is %d, not 0 or 1", what, (long long)i,
                                           h->deleted[i]);
        nd += h->deleted[i];
    }
    if ((uint64_t)nd != hd->n_deleted)
        return FAIL("%s: %lld elements marked deleted, the header says %llu", what, (long long)nd,
                    (unsigned long long)hd->n_deleted);
    h->n_deleted = nd;
    if (hd->flags & HNSW_FLAG_NAMES) {
        uint64_t blob = hd->s[SEC_NAMES].size - (uint64_t)(n + 1) * 8, prev = 0;
        uint64_t *offs = malloc((size_t)(n + 1) * 8);
        char *bytes = malloc((size_t)(blob ? blob : 1));
        int rc = 0;
        if (!offs || !bytes) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", what);
        else if (r_get(r, offs, (size_t)(n + 1) * 8) || r_get(r, bytes, (size_t)blob))
            rc = FAIL("%s: truncated in section 'names'", what);
        else if (offs[0] != 0 || offs[n] != blob)
            rc = FAIL("%s: name offsets span %llu..%llu, expected 0..%llu", what, (unsigned long long)offs[0],
                      (unsigned long long)offs[n], (unsigned long long)blob);
        for (int64_t i = 0; rc == 0 && i < n; i++) {
            uint64_t a = offs[i], b = offs[i + 1];
            if (a < prev || b < a || b > blob) {
                rc = FAIL("%s: name %lld has offsets %llu..%llu outside 0..%llu or out of order", what, (long long)i,
                          (unsigned long long)a, (unsigned long long)b, (unsigned long long)blob);
                break;
            }
            prev = a;
            if (memchr(bytes + a, 0, (size_t)(b - a))) {
                rc = FAIL("%s: name %lld contains a NUL byte", what, (long long)i);
                break;
            }
            h->names[i] = malloc((size_t)(b - a) + 1);
            if (!h->names[i]) {
                rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", what);
                break;
            }
            memcpy(h->names[i], bytes + a, (size_t)(b - a));
            h->names[i][b - a] = 0;
        }
        if (rc == 0) rc = check_crc(r, hd, SEC_NAMES, flags, what);
        free(offs);
        free(bytes);
        BIENC_TRY(rc);
        h->has_names = 1;
        /* runs name documents by these: the same rule as every other id reader */
        BIENC_TRY(ids_check((const char *const *)h->names, h->count, what));
    }
    h->entry = hd->entry;
    h->max_level = hd->max_level;
    int rc = hnsw_check(h);
    if (rc < 0) return bienc_error_context(rc, "%s: invalid graph: ", what);
    return 0;
}

static int load_from(bienc_hnsw **out, reader *r, unsigned flags, const char *what)
{
    *out = NULL;
    unsigned char hb[HNSW_HEADER_SIZE];
    if (r->size < 8 || r_get(r, hb, 8)) return FAIL("%s: not a bienc HNSW index (file too short)", what);
    if (memcmp(hb, HNSW_MAGIC, 8) != 0) return FAIL("%s: not a bienc HNSW index (bad magic)", what);
    if (r_get(r, hb + 8, HNSW_HEADER_SIZE - 8))
        return FAIL("%s: truncated header (%llu of %u bytes)", what, (unsigned long long)r->size, HNSW_HEADER_SIZE);
    if (!(flags & HNSW_LOAD_SKIP_CHECKSUM) && hnsw_crc32c(0, hb, 192) != get32(hb, 192))
        return FAIL("%s: header checksum mismatch: the file is corrupt", what);
    if (get32(hb, 196) != 0) return FAIL("%s: reserved header bytes are not zero", what);
    header hd;
    header_decode(hb, &hd);
    BIENC_TRY(check_header(&hd, r->size, what));
    bienc_hnsw_params p = {(int)hd.dim, (int)hd.metric, (int)hd.M, (int)hd.ef_construction, hd.seed};
    bienc_hnsw *h;
    BIENC_TRY(hnsw_create(&h, &p));
    int rc = hnsw_reserve(h, hd.count > 0 ? (int64_t)hd.count : 1);
    if (rc == 0) rc = read_body(h, r, &hd, flags, what);
    if (rc < 0) {
        hnsw_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int hnsw_load_memory(bienc_hnsw **out, const void *data, size_t size, unsigned flags, const char *what)
{
    if (!out || (!data && size)) return bienc_error(BIENC_EINVAL, "hnsw_load_memory: NULL argument");
    reader r = {NULL, data, size, 0, 0};
    return load_from(out, &r, flags, what ? what : "(memory)");
}

int hnsw_load(bienc_hnsw **out, const char *path)
{
    if (!out || !path) return bienc_error(BIENC_EINVAL, "hnsw_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return bienc_error(errno == ENOENT ? BIENC_ENOTFOUND : BIENC_EIO, "%s: cannot open: %s", path,
                               strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return bienc_error(BIENC_EIO, "%s: not a regular file", path);
    }
    reader r = {f, NULL, (uint64_t)st.st_size, 0, 0};
    int rc = load_from(out, &r, 0, path);
    fclose(f);
    return rc;
}
