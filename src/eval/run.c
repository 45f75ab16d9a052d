/* Ranked runs: TREC run files in and out, and the ranking rule (score desc, docid desc). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/atomic_file.h"
#include "eval/eval_internal.h"
#include "eval/lines.h"

int run_new(bienc_run **out, const char *name)
{
    BIENC_ASSERT(out);
    bienc_run *r = calloc(1, sizeof *r);
    if (!r) return bienc_error(BIENC_ENOMEM, "out of memory creating a run");
    r->name = strdup(name && *name ? name : "bienc");
    if (!r->name) {
        free(r);
        return bienc_error(BIENC_ENOMEM, "out of memory creating a run");
    }
    /* The name is one field of every written line: no blanks in it. */
    for (char *p = r->name; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') *p = '_';
    r->last = (size_t)-1;
    *out = r;
    return 0;
}

void run_free(bienc_run *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nq; i++) free(r->queries[i].e);
    free(r->queries);
    strmap_free(&r->qmap);
    strpool_free(&r->docs);
    free(r->name);
    free(r);
}

static int run_query_index(bienc_run *r, const char *qid, size_t *index)
{
    /* Runs list a query's documents together: try the previous query first. */
    if (r->last < r->nq && strcmp(r->queries[r->last].qid, qid) == 0) {
        *index = r->last;
        return 0;
    }
    int64_t v;
    if (strmap_get(&r->qmap, qid, strlen(qid), &v)) {
        *index = r->last = (size_t)v;
        return 0;
    }
    if (r->nq == r->capq) {
        size_t cap = r->capq ? r->capq * 2 : 64;
        run_query *qs = realloc(r->queries, cap * sizeof *qs);
        if (!qs) return bienc_error(BIENC_ENOMEM, "out of memory adding a run query");
        r->queries = qs;
        r->capq = cap;
    }
    const char *stored;
    int rc = strmap_put(&r->qmap, qid, strlen(qid), (int64_t)r->nq, NULL, &stored);
    if (rc < 0) return rc;
    r->queries[r->nq] = (run_query){.qid = stored, .sorted = 1};
    *index = r->last = r->nq++;
    return 0;
}

int run_add_line(bienc_run *r, const char *qid, const char *docid, double score, long line)
{
    size_t qi = 0;
    BIENC_TRY(run_query_index(r, qid, &qi));
    run_query *q = &r->queries[qi];
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        run_entry *e = realloc(q->e, cap * sizeof *e);
        if (!e) return bienc_error(BIENC_ENOMEM, "out of memory adding to run query %s", qid);
        q->e = e;
        q->cap = cap;
    }
    const char *d = strpool_dup(&r->docs, docid, strlen(docid));
    if (!d) return bienc_error(BIENC_ENOMEM, "out of memory adding to run query %s", qid);
    q->e[q->n++] = (run_entry){.docid = d, .score = score, .line = line};
    q->sorted = 0;
    r->nentries++;
    return 0;
}

int run_add(bienc_run *r, const char *qid, const char *docid, double score)
{
    if (!r || !qid || !docid || !*qid || !*docid) return bienc_error(BIENC_EINVAL, "run_add: NULL or empty id");
    if (!isfinite(score))
        return bienc_error(BIENC_EINVAL, "run_add: query %s document %s: score is not finite", qid, docid);
    return run_add_line(r, qid, docid, score, 0);
}

/* trec_eval's order (form_res_rels.c): higher score first; equal scores by document id,
 * larger id (strcmp) first. A total order, so qsort's instability cannot show. */
static int run_entry_cmp(const void *a, const void *b)
{
    const run_entry *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return strcmp(y->docid, x->docid);
}

static uint64_t run_docid_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* A repeated document in one query, found with a hash set of entry indices (linear time:
 * this runs on every query of multi-million-line runs). Entries are still in file order, so
 * the first occurrence found is the earlier line. */
static int run_check_duplicates(const bienc_run *r, const run_query *q)
{
    if (q->n < 2) return 0;
    size_t cap = 16;
    while (cap < 2 * q->n) cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return bienc_error(BIENC_ENOMEM, "out of memory checking run query %s", q->qid);
    memset(slot, 0xff, cap * sizeof *slot); /* SIZE_MAX = empty */
    int rc = 0;
    for (size_t i = 0; i < q->n && rc == 0; i++) {
        size_t j = run_docid_hash(q->e[i].docid) & (cap - 1);
        while (slot[j] != SIZE_MAX && strcmp(q->e[slot[j]].docid, q->e[i].docid) != 0) j = (j + 1) & (cap - 1);
        if (slot[j] == SIZE_MAX) {
            slot[j] = i;
            continue;
        }
        const run_entry *first = &q->e[slot[j]], *again = &q->e[i];
        if (r->path && again->line)
            rc = bienc_error(BIENC_EFORMAT, "%s line %ld: query %s lists document %s again (first at line %ld)",
                             r->path, again->line, q->qid, again->docid, first->line);
        else
            rc = bienc_error(BIENC_EINVAL, "run %s: query %s lists document %s twice", r->name, q->qid, again->docid);
    }
    free(slot);
    return rc;
}

/* Runs are usually written in rank order already: check before sorting. */
static int run_is_ordered(const run_query *q)
{
    for (size_t i = 1; i < q->n; i++)
        if (run_entry_cmp(&q->e[i - 1], &q->e[i]) > 0) return 0;
    return 1;
}

int run_sort(bienc_run *r)
{
    BIENC_ASSERT(r);
    for (size_t i = 0; i < r->nq; i++) {
        run_query *q = &r->queries[i];
        if (q->sorted) continue;
        BIENC_TRY(run_check_duplicates(r, q));
        if (!run_is_ordered(q)) qsort(q->e, q->n, sizeof *q->e, run_entry_cmp);
        q->sorted = 1;
    }
    return 0;
}

int run_truncate(bienc_run *r, size_t k)
{
    BIENC_TRY(run_sort(r));
    for (size_t i = 0; i < r->nq; i++) {
        run_query *q = &r->queries[i];
        if (q->n <= k) continue;
        r->nentries -= q->n - k;
        q->n = k;
    }
    return 0;
}

static int run_read_lines(line_reader *lr, bienc_run *r)
{
    char *line, *f[7];
    int rc, named = 0;
    while ((rc = lines_next(lr, &line)) == 1) {
        const char *p = line + strspn(line, " \t");
        if (*p == '\0' || *p == '#') continue;
        int n = lines_split(line, 0, f, 6);
        if (n != 6)
            return bienc_error(BIENC_EFORMAT, "%s line %ld: %s fields, a TREC run line has 6: "
                               "`qid Q0 docid rank score run_name`", lr->path, lr->lineno,
                               n > 6 ? "more than 6" : n == 5 ? "5" : n == 4 ? "4" : n == 3 ? "3" : n == 2 ? "2" : "1");
        long rank;
        double score;
        if (lines_parse_int(f[3], 0, 2147483647L, &rank) < 0)
            return bienc_error(BIENC_EFORMAT, "%s line %ld: rank '%s' is not a non-negative integer", lr->path,
                               lr->lineno, f[3]);
        if (lines_parse_double(f[4], &score) < 0)
            return bienc_error(BIENC_EFORMAT, "%s line %ld: score '%s' is not a finite number", lr->path, lr->lineno,
                               f[4]);
        if (!named) {
            char *name = strdup(f[5]);
            if (!name) return bienc_error(BIENC_ENOMEM, "out of memory reading %s", lr->path);
            free(r->name);
            r->name = name;
            named = 1;
        }
        rc = run_add_line(r, f[0], f[2], score, lr->lineno);
        if (rc < 0) return bienc_error_context(rc, "%s line %ld: ", lr->path, lr->lineno);
    }
    return rc;
}

int run_read(const char *path, bienc_run **out)
{
    if (!path || !out) return bienc_error(BIENC_EINVAL, "run_read: NULL argument");
    *out = NULL;
    bienc_run *r;
    BIENC_TRY(run_new(&r, NULL));
    line_reader lr;
    r->path = path;
    int rc = lines_open(&lr, path);
    if (rc == 0) rc = run_read_lines(&lr, r);
    lines_close(&lr);
    if (rc == 0) rc = run_sort(r);
    r->path = NULL;
    if (rc < 0) {
        run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* The shortest of %.15g, %.16g, %.17g that reads back to the same double. */
static void run_format_score(double v, char *buf, size_t n)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
}

int run_write(bienc_run *r, const char *path)
{
    if (!r || !path) return bienc_error(BIENC_EINVAL, "run_write: NULL argument");
    BIENC_TRY(run_sort(r));
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    FILE *f = out.f;
    char score[40];
    for (size_t i = 0; i < r->nq; i++) {
        const run_query *q = &r->queries[i];
        for (size_t j = 0; j < q->n; j++) {
            run_format_score(q->e[j].score, score, sizeof score);
            fprintf(f, "%s Q0 %s %zu %s %s\n", q->qid, q->e[j].docid, j + 1, score, r->name);
        }
    }
    return atomic_file_commit(&out);
}

const char *run_name(const bienc_run *r) { return r ? r->name : NULL; }
size_t run_num_queries(const bienc_run *r) { return r ? r->nq : 0; }
size_t run_num_entries(const bienc_run *r) { return r ? r->nentries : 0; }
const char *run_query_id(const bienc_run *r, size_t qi) { return r && qi < r->nq ? r->queries[qi].qid : NULL; }

long run_find_query(const bienc_run *r, const char *qid)
{
    int64_t v;
    if (!r || !qid || !strmap_get(&r->qmap, qid, strlen(qid), &v)) return -1;
    return (long)v;
}

size_t run_query_size(const bienc_run *r, size_t qi) { return r && qi < r->nq ? r->queries[qi].n : 0; }

const char *run_doc_id(const bienc_run *r, size_t qi, size_t rank)
{
    if (!r || qi >= r->nq || rank >= r->queries[qi].n) return NULL;
    return r->queries[qi].e[rank].docid;
}

double run_doc_score(const bienc_run *r, size_t qi, size_t rank)
{
    if (!r || qi >= r->nq || rank >= r->queries[qi].n) return 0.0;
    return r->queries[qi].e[rank].score;
}
