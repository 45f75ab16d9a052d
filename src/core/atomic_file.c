/* The atomic output writer: see atomic_file.h for the contract. */
#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static void atomic_file_release(atomic_file *a)
{
    free(a->path);
    free(a->tmp);
    a->f = NULL;
    a->path = a->tmp = NULL;
}

/* Creates PATH.tmp afresh: unlink a leftover first, then O_EXCL without following a
 * symlink, so whatever sat at PATH.tmp is never written through. Mode 0666 less the umask,
 * as fopen would give. Returns the descriptor or -1 with the error set. */
static int create_temporary(atomic_file *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (!path || !*path) return bienc_error(BIENC_EINVAL, "output: empty file name");
    a->path = strdup(path);
    a->tmp = malloc(strlen(path) + 5);
    if (!a->path || !a->tmp) {
        atomic_file_release(a);
        return bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
    }
    sprintf(a->tmp, "%s.tmp", path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        atomic_file_release(a);
        return bienc_error(BIENC_EINVAL, "%s: is a directory, not a file name", path);
    }
    if (unlink(a->tmp) < 0 && errno != ENOENT) {
        int rc = bienc_error(BIENC_EIO, "%s: cannot remove the old temporary: %s", a->tmp, strerror(errno));
        atomic_file_release(a);
        return rc;
    }
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        int rc = bienc_error(BIENC_EIO, "cannot create %s: %s", a->tmp, strerror(errno));
        atomic_file_release(a);
        return rc;
    }
    return fd;
}

int atomic_file_open(atomic_file *a, const char *path)
{
    int fd = create_temporary(a, path);
    if (fd < 0) return fd;
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int rc = bienc_error(BIENC_EIO, "%s: %s", a->tmp, strerror(errno));
        close(fd);
        unlink(a->tmp);
        atomic_file_release(a);
        return rc;
    }
    return 0;
}

int atomic_file_reserve(atomic_file *a, const char *path)
{
    int fd = create_temporary(a, path);
    if (fd < 0) return fd;
    close(fd);
    return 0;
}

void atomic_file_abort(atomic_file *a)
{
    if (!a || !a->tmp) return;
    if (a->f) fclose(a->f);
    unlink(a->tmp);
    atomic_file_release(a);
}

/* fsync of a file, or of a directory (some file systems refuse that: the rename is then as
 * durable as it gets). -1 with errno on failure. */
static int fsync_path(const char *path, int directory)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd);
    if (rc < 0 && directory && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int atomic_file_commit(atomic_file *a)
{
    if (!a || !a->tmp) return bienc_error(BIENC_ESTATE, "atomic_file_commit: nothing open");
    int e = 0;
    if (a->f) {
        /* Data on disk before the name points at it. */
        errno = 0;
        if (fflush(a->f) != 0 || ferror(a->f)) e = errno ? errno : EIO;
        if (!e && fsync(fileno(a->f)) != 0) e = errno;
        if (fclose(a->f) != 0 && !e) e = errno ? errno : EIO;
        a->f = NULL;
    } else if (fsync_path(a->tmp, 0) < 0) {
        e = errno;
    }
    if (e) {
        int rc = bienc_error(BIENC_EIO, "%s: write failed: %s", a->path, strerror(e));
        atomic_file_abort(a);
        return rc;
    }
    if (rename(a->tmp, a->path) < 0) {
        int rc = bienc_error(BIENC_EIO, "cannot rename %s to %s: %s", a->tmp, a->path, strerror(errno));
        atomic_file_abort(a);
        return rc;
    }
    /* The file is complete and in place; make the rename itself durable. */
    int rc = 0;
    char *dir = strdup(a->path);
    if (dir && fsync_path(dirname(dir), 1) < 0)
        rc = bienc_error(BIENC_EIO, "%s: fsync of its directory failed: %s", a->path, strerror(errno));
    free(dir);
    atomic_file_release(a);
    return rc;
}

int atomic_file_finish(atomic_file *a, int rc)
{
    if (rc < 0) {
        atomic_file_abort(a);
        return rc;
    }
    return atomic_file_commit(a);
}

int atomic_file_check_inputs(const char *output, const char *const *inputs, size_t n)
{
    if (!output || strcmp(output, "-") == 0) return 0;
    struct stat out[2];
    int have[2];
    have[0] = stat(output, &out[0]) == 0;
    char *tmp = malloc(strlen(output) + 5);
    if (!tmp) return bienc_error(BIENC_ENOMEM, "%s: out of memory", output);
    sprintf(tmp, "%s.tmp", output);
    have[1] = stat(tmp, &out[1]) == 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat in;
        if (!inputs[i] || strcmp(inputs[i], "-") == 0 || stat(inputs[i], &in) != 0) continue;
        for (int k = 0; k < 2 && rc == 0; k++)
            if (have[k] && out[k].st_dev == in.st_dev && out[k].st_ino == in.st_ino)
                rc = bienc_error(BIENC_EINVAL, "%s is the same file as the input %s: refusing to overwrite an input",
                                 k ? tmp : output, inputs[i]);
    }
    free(tmp);
    return rc;
}

int atomic_stream_check(FILE *f, const char *what)
{
    errno = 0;
    if (fflush(f) != 0 || ferror(f)) {
        int e = errno ? errno : EIO;
        clearerr(f);
        return bienc_error(BIENC_EIO, "writing %s failed: %s", what, strerror(e));
    }
    return 0;
}
