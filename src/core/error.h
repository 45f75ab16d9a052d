/* Errors: every fallible function returns an int status (0 ok, negative error) and
 * leaves a human-readable message, retrievable with bienc_last_error(). The message is
 * per thread, so parallel callers do not overwrite each other's reasons. */
#ifndef BIENC_ERROR_H
#define BIENC_ERROR_H

#include "bienc/bienc.h"  /* enum bienc_status, bienc_last_error, bienc_status_name */

/* Sets the thread's error message (printf-style) and returns `code`, so that a
 * failing function can `return bienc_error(BIENC_EINVAL, "...", ...);`. */
int bienc_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with more context ("loading x.h5: " + old message)
 * and returns `code` unchanged. */
int bienc_error_context(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void bienc_error_clear(void);

/* A broken invariant inside the library: a NULL where no caller passes one, a state the
 * caller guarantees. That is a programmer error, not a user's, so it aborts with the
 * file, line, function and condition instead of returning a status (which every caller
 * would have to carry). Boundaries - files, the user's config, the public API of
 * include/bienc/bienc.h - still return a status with a message. Always on, also in
 * Release builds: a check costs a branch, a wrong result costs a day. */
#define BIENC_ASSERT(cond) ((cond) ? (void)0 : bienc_assert_fail(#cond, __FILE__, __LINE__, __func__))
void bienc_assert_fail(const char *cond, const char *file, int line, const char *func) __attribute__((noreturn));

/* Propagate a failing status: `BIENC_TRY(op_linear(...));` */
#define BIENC_TRY(expr) do { int bienc_try_rc_ = (expr); if (bienc_try_rc_ < 0) return bienc_try_rc_; } while (0)

#endif
