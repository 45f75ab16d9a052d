#include "core/os.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"

double os_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int os_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= sizeof buf) return bienc_error(BIENC_EINVAL, "bad directory name '%s'", path ? path : "");
    memcpy(buf, path, n + 1);
    /* every prefix ending at a '/', then the whole path */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return bienc_error(BIENC_EIO, "cannot create directory %s: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0) return bienc_error(BIENC_EIO, "cannot create directory %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return bienc_error(BIENC_EIO, "%s exists and is not a directory", path);
    return 0;
}
