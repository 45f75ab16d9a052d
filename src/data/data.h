/* Readers for retrieval data sets: MS MARCO TSV files, BEIR JSON lines, triples and
 * hard-negative files, plus the built-in Debian data set (formats: docs/data-formats.md).
 *
 * Memory: a TSV file is memory-mapped and only its line offsets are indexed (12 bytes a
 * row, plus 4-8 bytes a row for the id hash); texts handed out are views into the
 * mapping, never copies. A JSON lines file is decoded once into one buffer and the file
 * is unmapped, so a text is never held twice either way.
 *
 * Input conventions (every reader): a UTF-8 BOM at the start is skipped, "\r\n" line
 * ends are accepted, blank lines (anywhere, including a trailing one) are ignored, text
 * bytes pass through unchanged (no re-encoding: MS MARCO's own mojibake stays as is).
 * A malformed row is an error naming the file and line ("collection.tsv:1234: expected
 * 2 tab-separated fields, found 1"), or, with opts.skip_malformed, a counted skip. */
#ifndef BIENC_DATA_H
#define BIENC_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Longest id accepted (bytes). Ids are non-empty and contain no space, tab or control byte. */
#define DATA_MAX_ID_LEN 256

typedef struct bienc_read_opts {
    int skip_malformed;    /* 1: skip bad rows and count them; 0: fail on the first one */
    int numeric_ids;       /* 1: ids must be decimal integers (MS MARCO), 0: any id string */
} bienc_read_opts;

/* What a reader did (optional out-parameter of every loader). */
typedef struct bienc_read_report {
    int64_t n_rows;        /* rows kept */
    int64_t n_skipped;     /* malformed rows skipped (only with skip_malformed) */
    char first_skip[256];  /* message of the first skipped row ("" when none) */
} bienc_read_report;

/* ---- id -> text store: collection.tsv, queries.tsv, BEIR corpus/queries.jsonl ---- */
typedef struct bienc_texts bienc_texts;

/* MS MARCO style `id\ttext` (collection.tsv: pid, queries.tsv: qid). Exactly two fields;
 * empty text is allowed; duplicate ids are malformed rows. */
int texts_load_tsv(bienc_texts **out, const char *path, const bienc_read_opts *opts, bienc_read_report *report);

/* BEIR JSON lines: {"_id": .., "title": .., "text": ..}. The stored text is
 * strip(title + " " + text) when a "title" member exists, else strip(text), the way BEIR's
 * SentenceBERT.encode_corpus builds passages (so queries.jsonl, without titles, keeps its
 * text). "_id" may be a string or an integer; other members (metadata) are ignored. */
int texts_load_jsonl(bienc_texts **out, const char *path, const bienc_read_opts *opts, bienc_read_report *report);

void texts_free(bienc_texts *t);
int64_t texts_count(const bienc_texts *t);
/* Row i (0 <= i < count): its id and text as (pointer, length) views, not NUL-terminated.
 * Returns BIENC_ERANGE for a bad index. */
int texts_get(const bienc_texts *t, int64_t i, const char **id, size_t *id_len, const char **text, size_t *text_len);
/* Index of the row with this id, or -1 when absent (hash lookup). */
int64_t texts_find(const bienc_texts *t, const char *id, size_t id_len);
/* The file the store was read from (for messages). */
const char *texts_path(const bienc_texts *t);

/* ---- triples: text (query\tpositive\tnegative) or ids (qid\tpos_pid\tneg_pid) ---- */
typedef struct bienc_triples bienc_triples;

/* Three tab-separated fields a row. With ids = 1 each field must be a valid id (see
 * DATA_MAX_ID_LEN and opts.numeric_ids); with ids = 0 the fields are texts (may be empty).
 * Teacher scores for MarginMSELoss may follow, the same number of columns on every row:
 * one (the margin score(q,pos) - score(q,neg)) or two (score(q,pos), score(q,neg)). */
int triples_load(bienc_triples **out, const char *path, int ids, const bienc_read_opts *opts,
                 bienc_read_report *report);
void triples_free(bienc_triples *t);
int64_t triples_count(const bienc_triples *t);
/* Whether the rows carry teacher scores, and row i's margin score(q,pos) - score(q,neg). */
int triples_has_margins(const bienc_triples *t);
float triples_margin(const bienc_triples *t, int64_t i);
/* Field k (0 query/qid, 1 positive, 2 negative) of row i. */
int triples_get(const bienc_triples *t, int64_t i, int k, const char **s, size_t *len);
const char *triples_path(const bienc_triples *t);
/* Source line of row i of an id triples file (0 for text triples). */
int64_t triples_line(const bienc_triples *t, int64_t i);

/* ---- hard negatives: {"qid": q, "pos": [p, ..], "neg": {"system": [n, ..], ..}} ---- */
typedef struct bienc_hardnegs bienc_hardnegs;

typedef struct bienc_id_view {
    const char *s;
    uint32_t len;
} bienc_id_view;

typedef struct bienc_hardneg_row {
    bienc_id_view qid;
    const bienc_id_view *pos;   /* n_pos positive pids */
    int n_pos;
    const bienc_id_view *neg;   /* n_neg negative pids: all systems, in file order, duplicates removed */
    int n_neg;
    int64_t line;               /* source line */
} bienc_hardneg_row;

/* Ids may be JSON strings or integers. "pos" must be a non-empty array; "neg" an object of
 * arrays (a plain array is accepted too). `system` selects one system's list ("bm25"), or
 * NULL for the union of all. */
int hardnegs_load(bienc_hardnegs **out, const char *path, const char *system, const bienc_read_opts *opts,
                  bienc_read_report *report);
void hardnegs_free(bienc_hardnegs *h);
int64_t hardnegs_count(const bienc_hardnegs *h);
const char *hardnegs_path(const bienc_hardnegs *h);
int hardnegs_get(const bienc_hardnegs *h, int64_t i, bienc_hardneg_row *row);

/* ---- the built-in Debian data set (src/data/debian.c; layout in the README) ---- */
typedef enum { DEBIAN_SOURCE_AUTO = 0, DEBIAN_SOURCE_APT, DEBIAN_SOURCE_DPKG } bienc_debian_source;

typedef struct bienc_debian_opts {
    const char *output_dir;     /* created if missing */
    uint64_t seed;              /* picks the random negative of each training triple */
    bienc_debian_source source; /* AUTO: apt translations if present, else dpkg status */
    const char *apt_lists_dir;  /* default /var/lib/apt/lists */
    const char *dpkg_status;    /* default /var/lib/dpkg/status */
    int verbose;                /* print progress and warnings on stderr */
} bienc_debian_opts;

typedef struct bienc_debian_stats {
    int n_files;                /* source files read */
    char source[16];            /* "apt" or "dpkg" */
    int fell_back;              /* 1: AUTO found no apt translations and used dpkg status */
    int64_t n_entries;          /* package stanzas with a description */
    int64_t n_dup_description;  /* dropped: same Description-md5 (or text) as an earlier one */
    int64_t n_dup_package;      /* dropped: package already seen with another description */
    int64_t n_dup_passage;      /* dropped: same long description as another package */
    int64_t n_dup_query;        /* dropped: same short description (case-insensitive) */
    int64_t n_empty;            /* dropped: no long description */
    int64_t n_passages;         /* collection.tsv rows */
    int64_t n_queries[3];       /* train, dev, test */
    int64_t n_triples;
} bienc_debian_stats;

void debian_default_opts(bienc_debian_opts *o);
int debian_build(const bienc_debian_opts *o, bienc_debian_stats *stats);

#endif
