/* Errors: every fallible function returns an int status (0 ok, negative error) and
 * leaves a human-readable message, retrievable with bienc_last_error(). The message is
 * per thread, so parallel callers do not overwrite each other's reasons. */
#ifndef BIENC_ERROR_H
#define BIENC_ERROR_H

enum bienc_status {
    BIENC_OK = 0,
    BIENC_EINVAL = -1,   /* bad argument: NULL, out of range, wrong option */
    BIENC_ENOMEM = -2,   /* allocation failed */
    BIENC_EIO = -3,      /* file could not be opened, read or written */
    BIENC_EFORMAT = -4,  /* file content is malformed, truncated or foreign */
    BIENC_ESHAPE = -5,   /* tensor shapes do not fit together */
    BIENC_ERANGE = -6,   /* index or count outside its valid range */
    BIENC_ENOTFOUND = -7,/* a named item (file, key, parameter) does not exist */
    BIENC_ESTATE = -8,   /* call not valid in the object's current state */
    BIENC_EINTERRUPT = -9 /* stopped on request (Ctrl-C) */
};

/* Sets the thread's error message (printf-style) and returns `code`, so that a
 * failing function can `return bienc_error(BIENC_EINVAL, "...", ...);`. */
int bienc_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with more context ("loading x.h5: " + old message)
 * and returns `code` unchanged. */
int bienc_error_context(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message set on this thread ("" when none). */
const char *bienc_last_error(void);

void bienc_error_clear(void);

/* Short name of a status code ("invalid argument", "malformed file", ...). */
const char *bienc_status_name(int code);

/* Propagate a failing status: `BIENC_TRY(op_linear(...));` */
#define BIENC_TRY(expr) do { int bienc_try_rc_ = (expr); if (bienc_try_rc_ < 0) return bienc_try_rc_; } while (0)

#endif
