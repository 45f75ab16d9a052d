/* Document and query ids, one rule for every reader (texts, embeddings, indexes): encode,
 * index build and search accept and refuse the same ids. */
#ifndef BIENC_CORE_IDS_H
#define BIENC_CORE_IDS_H

#include <stddef.h>
#include <stdint.h>

#define ID_MAX_LEN 256

/* Why s[0, len) cannot be an id, or NULL: empty, longer than ID_MAX_LEN bytes, or holding a
 * space or control byte (ids sit between spaces in TREC runs and qrels). */
const char *id_problem(const char *s, size_t len);

/* Checks n NUL-terminated ids: each valid (id_problem) and no two equal. BIENC_EFORMAT
 * naming `what` (the file), the row and the reason. */
int ids_check(const char *const *ids, int64_t n, const char *what);

#endif
