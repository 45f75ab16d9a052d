/* Internal to src/eval: line-by-line reading of text files (any line length, CRLF
 * tolerated, NUL bytes rejected) and in-place splitting into fields. */
#ifndef BIENC_EVAL_LINES_H
#define BIENC_EVAL_LINES_H

#include <stdio.h>

typedef struct line_reader {
    FILE *f;
    const char *path;
    char *buf;
    size_t cap;
    long lineno; /* 1-based number of the line last returned */
} line_reader;

int lines_open(line_reader *r, const char *path);
/* 1 with the line (terminator stripped, NUL-terminated) in *line, 0 at end of file,
 * negative (message names file:line) on a read error or a NUL byte. */
int lines_next(line_reader *r, char **line);
void lines_close(line_reader *r);

/* Splits line in place into at most max fields: on runs of spaces/tabs when tabs_only is 0
 * (leading/trailing blanks ignored), on every tab when 1 (empty fields kept, so they can be
 * reported). Returns the field count, or max + 1 when there are more. */
int lines_split(char *line, int tabs_only, char **fields, int max);

/* Strict number parsing of a whole field: 0 ok, -1 otherwise. */
int lines_parse_int(const char *s, long min, long max, long *out);
int lines_parse_double(const char *s, double *out); /* finite values only */

#endif
