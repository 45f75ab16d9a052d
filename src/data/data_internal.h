/* Shared pieces of the readers (not public): a read-only mapped file, line iteration,
 * id validation, malformed-row handling and an id hash index. */
#ifndef BIENC_DATA_INTERNAL_H
#define BIENC_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "data/data.h"

/* A whole file, memory-mapped when possible (regular files), else read into memory
 * (pipes, /dev/stdin). */
typedef struct data_file {
    char *path;        /* heap copy, for messages */
    const char *base;  /* file bytes (NULL when size == 0) */
    size_t size;
    int mapped;        /* 1: munmap on close, 0: free */
} data_file;

int data_file_open(data_file *f, const char *path);
void data_file_close(data_file *f);

/* Line iteration: *pos starts at 0. Returns 1 with the next non-blank line (no '\n', no
 * trailing '\r', no BOM) and its 1-based number, 0 at the end of the file. */
typedef struct data_line {
    const char *p;
    size_t len;
    size_t off;        /* byte offset of p in the file */
    int64_t lineno;
} data_line;

int data_next_line(const char *base, size_t size, size_t *pos, int64_t *lineno, data_line *line);

/* Malformed-row bookkeeping: data_bad_row() either records a skip (returns 1: caller
 * skips the row) or sets an error "<path>:<line>: <message>" (returns the negative status). */
typedef struct data_rows {
    const char *path;
    int skip_malformed;
    int numeric_ids;
    bienc_read_report rep;
} data_rows;

void data_rows_init(data_rows *r, const char *path, const bienc_read_opts *opts);
int data_bad_row(data_rows *r, int64_t lineno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void data_rows_report(const data_rows *r, bienc_read_report *out);

/* 0 when s[0..len) is a valid id, else a message (static string) saying why. */
const char *data_id_problem(const char *s, size_t len, int numeric);

/* Splits a line at tabs: fills up to max fields, returns the number of fields found
 * (which may exceed max; only the first max are filled). */
int data_split_tabs(const char *p, size_t len, const char **f, size_t *flen, int max);

/* 64-bit hash of bytes (FNV-1a folded through a finalizer). */
uint64_t data_hash_bytes(const char *s, size_t len, uint64_t seed);

/* Open-addressing index from id bytes to a row number. The id of row i is fetched through
 * the callback, so the index stores only row numbers (4 bytes a slot). */
typedef void (*data_id_fn)(const void *ctx, int64_t row, const char **id, size_t *len);
typedef struct data_index {
    uint32_t *slot;    /* row + 1, 0 = empty */
    uint64_t mask;
} data_index;

int data_index_init(data_index *ix, int64_t n_rows);
void data_index_free(data_index *ix);
/* Inserts row (with this id); returns -1 when inserted, or the row already holding the id. */
int64_t data_index_insert(data_index *ix, const void *ctx, data_id_fn get, const char *id, size_t len, int64_t row);
int64_t data_index_find(const data_index *ix, const void *ctx, data_id_fn get, const char *id, size_t len);

/* Growable arrays of plain values. */
int data_grow(void **p, int64_t *cap, int64_t need, size_t elem);

#endif
