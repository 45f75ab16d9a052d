#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MESSAGE_SIZE 2048

static _Thread_local char error_message[ERROR_MESSAGE_SIZE];

int bienc_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return code;
}

int bienc_error_context(int code, const char *fmt, ...)
{
    char old[ERROR_MESSAGE_SIZE];
    memcpy(old, error_message, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof error_message)
        snprintf(error_message + n, sizeof error_message - (size_t)n, "%s", old);
    return code;
}

const char *bienc_last_error(void) { return error_message; }

void bienc_error_clear(void) { error_message[0] = '\0'; }

const char *bienc_status_name(int code)
{
    switch (code) {
    case BIENC_OK: return "ok";
    case BIENC_EINVAL: return "invalid argument";
    case BIENC_ENOMEM: return "out of memory";
    case BIENC_EIO: return "I/O error";
    case BIENC_EFORMAT: return "malformed file";
    case BIENC_ESHAPE: return "shape mismatch";
    case BIENC_ERANGE: return "out of range";
    case BIENC_ENOTFOUND: return "not found";
    case BIENC_ESTATE: return "invalid state";
    case BIENC_EINTERRUPT: return "interrupted";
    default: return "unknown error";
    }
}

void bienc_assert_fail(const char *cond, const char *file, int line, const char *func)
{
    fprintf(stderr, "bienc: %s:%d: %s: assertion failed: %s\n", file, line, func, cond);
    fflush(stderr);
    abort();
}
