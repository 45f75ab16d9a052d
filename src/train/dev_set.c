#include "train/dev_set.h"

#include <string.h>

/* The relevant passages of the query with id qid[0, qlen) present in the collection: their
 * count; each one's row is marked in pmark when given. */
static int64_t relevant_rows(const bienc_qrels *qrels, const char *qid, size_t qlen, const bienc_texts *collection,
                             unsigned char *pmark)
{
    long qi = qrels_find_query(qrels, qid, qlen);
    if (qi < 0) return 0;
    const char *const *docs;
    const int *grades;
    size_t n = qrels_query_judgments(qrels, (size_t)qi, &docs, &grades);
    int64_t found = 0;
    for (size_t j = 0; j < n; j++) {
        if (grades[j] < 1) continue;
        int64_t row = texts_find(collection, docs[j], strlen(docs[j]));
        if (row < 0) continue;
        found++;
        if (pmark) pmark[row] = 1;
    }
    return found;
}

int64_t dev_set_select(const bienc_qrels *qrels, const bienc_texts *queries, const bienc_texts *collection,
                       int64_t max_queries, unsigned char *qmark)
{
    int64_t nq = texts_count(queries), taken = 0;
    for (int64_t i = 0; i < nq && (max_queries <= 0 || taken < max_queries); i++) {
        const char *id, *text;
        size_t idl, tl;
        if (texts_get(queries, i, &id, &idl, &text, &tl) < 0) continue;
        if (relevant_rows(qrels, id, idl, collection, NULL) == 0) continue;
        qmark[i] = 1;
        taken++;
    }
    return taken;
}

void dev_set_mark_relevant(const bienc_qrels *qrels, const bienc_texts *queries, const unsigned char *qmark,
                           const bienc_texts *collection, unsigned char *pmark)
{
    int64_t nq = texts_count(queries);
    for (int64_t i = 0; i < nq; i++) {
        const char *id, *text;
        size_t idl, tl;
        if (!qmark[i] || texts_get(queries, i, &id, &idl, &text, &tl) < 0) continue;
        relevant_rows(qrels, id, idl, collection, pmark);
    }
}
