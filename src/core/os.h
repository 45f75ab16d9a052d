/* What the library needs from the operating system besides stdio and atomic_file.h: a
 * monotonic clock and a recursive mkdir. One copy of each, used by every module and the CLI. */
#ifndef BIENC_OS_H
#define BIENC_OS_H

/* Seconds on the monotonic clock: for durations and rates, never for dates. */
double os_now(void);

/* Creates `path` and its missing parents (mode 0777 minus the umask), like `mkdir -p`; an
 * existing directory is fine. BIENC_EIO names the directory that could not be made and the
 * OS reason (also when `path` exists but is not a directory); BIENC_EINVAL for an empty or
 * over-long path. */
int os_mkdir_p(const char *path);

#endif
