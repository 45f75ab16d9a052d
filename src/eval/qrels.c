/* Relevance judgments: TREC / BEIR / tab-separated readers and lookups by (query, document). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval_internal.h"
#include "eval/lines.h"

/* Grades outside this range are almost surely a wrong column, not a relevance level. */
#define QRELS_MAX_GRADE 1000000L

int qrels_new(bienc_qrels **out)
{
    BIENC_ASSERT(out);
    *out = calloc(1, sizeof **out);
    if (!*out) return bienc_error(BIENC_ENOMEM, "out of memory creating qrels");
    return 0;
}

void qrels_free(bienc_qrels *q)
{
    if (!q) return;
    for (size_t i = 0; i < q->nq; i++) {
        free(q->queries[i].grades);
        free(q->queries[i].docids);
    }
    free(q->queries);
    strmap_free(&q->qmap);
    strmap_free(&q->pairs);
    free(q->key);
    free(q);
}

/* "qid\0docid" in q->key: unambiguous because ids never contain NUL. */
static int qrels_pair_key(bienc_qrels *q, const char *qid, const char *docid, size_t *len)
{
    size_t lq = strlen(qid), ld = strlen(docid);
    if (lq + ld + 1 > q->key_cap) {
        size_t cap = (lq + ld + 1) * 2;
        char *k = realloc(q->key, cap);
        if (!k) return bienc_error(BIENC_ENOMEM, "out of memory building a qrels key");
        q->key = k;
        q->key_cap = cap;
    }
    memcpy(q->key, qid, lq);
    q->key[lq] = '\0';
    memcpy(q->key + lq + 1, docid, ld);
    *len = lq + ld + 1;
    return 0;
}

static int qrels_query_index(bienc_qrels *q, const char *qid, size_t *index)
{
    int64_t v;
    if (strmap_get(&q->qmap, qid, strlen(qid), &v)) {
        *index = (size_t)v;
        return 0;
    }
    if (q->nq == q->capq) {
        size_t cap = q->capq ? q->capq * 2 : 64;
        qrels_query *qs = realloc(q->queries, cap * sizeof *qs);
        if (!qs) return bienc_error(BIENC_ENOMEM, "out of memory adding a qrels query");
        q->queries = qs;
        q->capq = cap;
    }
    const char *stored;
    int rc = strmap_put(&q->qmap, qid, strlen(qid), (int64_t)q->nq, NULL, &stored);
    if (rc < 0) return rc;
    q->queries[q->nq] = (qrels_query){.qid = stored};
    *index = q->nq++;
    return 0;
}

int qrels_add_line(bienc_qrels *q, const char *qid, const char *docid, int grade, long line, long *first_line)
{
    size_t klen = 0, qi = 0;
    BIENC_TRY(qrels_pair_key(q, qid, docid, &klen));
    int64_t packed = ((int64_t)line << 32) | (uint32_t)grade, existing;
    const char *stored = NULL;
    int rc = strmap_put(&q->pairs, q->key, klen, packed, &existing, &stored);
    if (rc < 0) return rc;
    if (rc == 1) {
        if (first_line) *first_line = (long)(existing >> 32);
        return 1;
    }
    BIENC_TRY(qrels_query_index(q, qid, &qi));
    qrels_query *qq = &q->queries[qi];
    if (qq->n == qq->cap) {
        size_t cap = qq->cap ? qq->cap * 2 : 8;
        int *g = realloc(qq->grades, cap * sizeof *g);
        if (g) qq->grades = g;
        const char **d = g ? realloc(qq->docids, cap * sizeof *d) : NULL;
        if (!d) return bienc_error(BIENC_ENOMEM, "out of memory adding a judgment");
        qq->docids = d;
        qq->cap = cap;
    }
    qq->docids[qq->n] = stored + strlen(qid) + 1; /* the key is "qid\0docid" */
    qq->grades[qq->n++] = grade;
    q->nj++;
    return 0;
}

int qrels_add(bienc_qrels *q, const char *qid, const char *docid, int grade)
{
    if (!q || !qid || !docid || !*qid || !*docid) return bienc_error(BIENC_EINVAL, "qrels_add: NULL or empty id");
    int rc = qrels_add_line(q, qid, docid, grade, 0, NULL);
    if (rc == 1) return bienc_error(BIENC_EINVAL, "qrels: query %s document %s judged twice", qid, docid);
    return rc;
}

enum qrels_format { QRELS_UNKNOWN, QRELS_TREC4, QRELS_TAB3, QRELS_TAB2 };

/* Decides the format from the first data line: a tab-separated line is split on tabs
 * (4 fields = TREC written with tabs, 3 or 2 = the short forms), otherwise on blanks
 * (must then be the 4-field TREC form). */
static enum qrels_format qrels_detect(const char *line)
{
    if (strchr(line, '\t')) {
        int n = 1;
        for (const char *p = line; *p; p++) n += *p == '\t';
        return n == 4 ? QRELS_TREC4 : n == 3 ? QRELS_TAB3 : n == 2 ? QRELS_TAB2 : QRELS_UNKNOWN;
    }
    return QRELS_TREC4;
}

static const char *qrels_format_name(enum qrels_format f)
{
    return f == QRELS_TREC4 ? "TREC `qid iter docid grade`" : f == QRELS_TAB3 ? "`qid<TAB>docid<TAB>grade`"
                                                                              : "`qid<TAB>docid`";
}

static int qrels_read_lines(line_reader *lr, bienc_qrels *q)
{
    enum qrels_format fmt = QRELS_UNKNOWN;
    char *line, *f[5];
    int rc;
    while ((rc = lines_next(lr, &line)) == 1) {
        if (line[strspn(line, " \t")] == '\0') continue; /* blank */
        int first = fmt == QRELS_UNKNOWN;
        if (first) {
            fmt = qrels_detect(line);
            if (fmt == QRELS_UNKNOWN)
                return bienc_error(BIENC_EFORMAT,
                                   "%s line %ld: not a qrels line (expected `qid 0 docid grade`, "
                                   "`qid<TAB>docid<TAB>grade` or `qid<TAB>docid`)", lr->path, lr->lineno);
        }
        int want = fmt == QRELS_TREC4 ? 4 : fmt == QRELS_TAB3 ? 3 : 2;
        /* TREC fields may be separated by any mix of blanks; the short forms by single tabs. */
        int n = lines_split(line, fmt != QRELS_TREC4, f, 4);
        if (n != want)
            return bienc_error(BIENC_EFORMAT, "%s line %ld: %d field%s where the file's format (%s) has %d",
                               lr->path, lr->lineno, n > 4 ? 5 : n, n == 1 ? "" : "s", qrels_format_name(fmt), want);
        const char *qid = f[0], *docid = fmt == QRELS_TREC4 ? f[2] : f[1];
        const char *gs = fmt == QRELS_TREC4 ? f[3] : fmt == QRELS_TAB3 ? f[2] : "1";
        /* BEIR qrels start with a `query-id corpus-id score` header. */
        if (first && fmt == QRELS_TAB3 && strcmp(qid, "query-id") == 0) continue;
        if (!*qid || !*docid || (fmt == QRELS_TREC4 && !*f[1]))
            return bienc_error(BIENC_EFORMAT, "%s line %ld: empty field", lr->path, lr->lineno);
        long grade, first_line = 0;
        if (lines_parse_int(gs, -QRELS_MAX_GRADE, QRELS_MAX_GRADE, &grade) < 0)
            return bienc_error(BIENC_EFORMAT, "%s line %ld: relevance grade '%s' is not an integer in [%ld, %ld]",
                               lr->path, lr->lineno, gs, -QRELS_MAX_GRADE, QRELS_MAX_GRADE);
        rc = qrels_add_line(q, qid, docid, (int)grade, lr->lineno, &first_line);
        if (rc < 0) return bienc_error_context(rc, "%s line %ld: ", lr->path, lr->lineno);
        if (rc == 1)
            return bienc_error(BIENC_EFORMAT, "%s line %ld: query %s document %s is judged again (first at line %ld)",
                               lr->path, lr->lineno, qid, docid, first_line);
    }
    return rc;
}

int qrels_read(const char *path, bienc_qrels **out)
{
    if (!path || !out) return bienc_error(BIENC_EINVAL, "qrels_read: NULL argument");
    *out = NULL;
    bienc_qrels *q;
    BIENC_TRY(qrels_new(&q));
    line_reader lr;
    int rc = lines_open(&lr, path);
    if (rc == 0) rc = qrels_read_lines(&lr, q);
    lines_close(&lr);
    if (rc < 0) {
        qrels_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

size_t qrels_num_queries(const bienc_qrels *q) { return q ? q->nq : 0; }
size_t qrels_num_judgments(const bienc_qrels *q) { return q ? q->nj : 0; }

const char *qrels_query_id(const bienc_qrels *q, size_t i) { return q && i < q->nq ? q->queries[i].qid : NULL; }

int qrels_lookup(const bienc_qrels *q, const char *qid, const char *docid, int *grade)
{
    if (!q || q->pairs.cap == 0) return 0;
    /* Same key layout as qrels_pair_key(), built on the stack or heap since q is const. */
    size_t lq = strlen(qid), ld = strlen(docid);
    char small[256], *key = lq + ld + 1 <= sizeof small ? small : malloc(lq + ld + 1);
    if (!key) return 0;
    memcpy(key, qid, lq);
    key[lq] = '\0';
    memcpy(key + lq + 1, docid, ld);
    int64_t v;
    int found = strmap_get(&q->pairs, key, lq + ld + 1, &v);
    if (key != small) free(key);
    if (found && grade) *grade = (int)(int32_t)(uint32_t)(v & 0xffffffff);
    return found;
}

size_t qrels_query_judgments(const bienc_qrels *q, size_t i, const char *const **docids, const int **grades)
{
    if (!q || i >= q->nq) return 0;
    if (docids) *docids = q->queries[i].docids;
    if (grades) *grades = q->queries[i].grades;
    return q->queries[i].n;
}

long qrels_find_query(const bienc_qrels *q, const char *qid, size_t len)
{
    int64_t v;
    if (!q || !strmap_get(&q->qmap, qid, len, &v)) return -1;
    return (long)v;
}

size_t qrels_count_relevant(const bienc_qrels *q, const char *qid, int min_grade)
{
    int64_t v;
    if (!q || !strmap_get(&q->qmap, qid, strlen(qid), &v)) return 0;
    const qrels_query *qq = &q->queries[v];
    size_t n = 0;
    for (size_t i = 0; i < qq->n; i++) n += qq->grades[i] >= min_grade;
    return n;
}
