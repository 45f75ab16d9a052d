#include "eval/lines.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int lines_open(line_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->f = fopen(path, "rb");
    if (!r->f) return bienc_error(BIENC_EIO, "cannot open %s: %s", path, strerror(errno));
    return 0;
}

int lines_next(line_reader *r, char **line)
{
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    if (n < 0) {
        if (ferror(r->f))
            return bienc_error(BIENC_EIO, "%s line %ld: read error: %s", r->path, r->lineno + 1,
                               strerror(errno ? errno : EIO));
        return 0;
    }
    r->lineno++;
    if ((size_t)n != strlen(r->buf))
        return bienc_error(BIENC_EFORMAT, "%s line %ld: NUL byte in a text file", r->path, r->lineno);
    while (n > 0 && (r->buf[n - 1] == '\n' || r->buf[n - 1] == '\r')) r->buf[--n] = '\0';
    *line = r->buf;
    return 1;
}

void lines_close(line_reader *r)
{
    if (r->f) fclose(r->f);
    free(r->buf);
    r->f = NULL;
    r->buf = NULL;
}

int lines_split(char *line, int tabs_only, char **fields, int max)
{
    int n = 0;
    char *p = line;
    if (tabs_only) {
        for (;;) {
            if (n == max) return max + 1;
            fields[n++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) return n;
            *tab = '\0';
            p = tab + 1;
        }
    }
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return n;
        if (n == max) return max + 1;
        fields[n++] = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (*p) *p++ = '\0';
    }
}

int lines_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int lines_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* ERANGE on underflow still gives a usable (tiny) value; overflow gives inf, caught below. */
    if (end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}
