/* The BM25 baseline of `bienc run`: eval/bm25_xapian.py (Debian's python3-xapian) run as a
 * child process on the same collection and dev queries, its TREC run read back. Optional:
 * when the script or the module is missing the report says so instead of failing. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/atomic_file.h"
#include "train/pipeline_internal.h"

extern char **environ;

/* Runs argv[0] with argv; quiet sends its output to /dev/null. Returns the exit status, or
 * -1 when it could not be started or was killed. */
static int spawn_wait(char *const argv[], int quiet)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (quiet) {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    } else {
        posix_spawn_file_actions_adddup2(&fa, 2, 1); /* progress goes where ours goes */
    }
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The script: opts, $BIENC_BM25_SCRIPT, ./eval/, then <exe dir>/../eval/ (a build directory
 * inside the source tree) and <exe dir>/../share/bienc/eval/ (an install). */
static int find_script(const char *given, char *out, size_t size)
{
    if (given) {
        snprintf(out, size, "%s", given);
        return access(out, R_OK) == 0;
    }
    const char *env = getenv("BIENC_BM25_SCRIPT");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return access(out, R_OK) == 0;
    }
    snprintf(out, size, "eval/bm25_xapian.py");
    if (access(out, R_OK) == 0) return 1;
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = 0;
    char *dir = dirname(exe);
    static const char *rel[] = {"../eval/bm25_xapian.py", "../share/bienc/eval/bm25_xapian.py", "../../eval/bm25_xapian.py"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        snprintf(out, size, "%s/%s", dir, rel[i]);
        if (access(out, R_OK) == 0) return 1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

int pipe_bm25_reset(pipe_ctx *p)
{
    char index[1200];
    snprintf(index, sizeof index, "%s/bm25.index", p->r->run_dir);
    if (access(index, F_OK) != 0) return 0;
    if (nftw(index, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return bienc_error(BIENC_EIO, "cannot remove the earlier BM25 index %s: %s", index, strerror(errno));
    return 0;
}

/* Whether BM25 can run here; when not, note says why (and nothing failed). */
static int bm25_available(pipe_ctx *p, const char **py, char *script, size_t script_size, char *note, size_t ns)
{
    *py = p->o->python ? p->o->python : "/usr/bin/python3";
    if (access(*py, X_OK) != 0) {
        snprintf(note, ns, "skipped: %s not found", *py);
    } else if (!find_script(p->o->bm25_script, script, script_size)) {
        snprintf(note, ns, "skipped: eval/bm25_xapian.py not found (run from the source tree or set BIENC_BM25_SCRIPT)");
    } else {
        char *check[] = {(char *)*py, "-c", "import xapian", NULL};
        if (spawn_wait(check, 1) != 0)
            snprintf(note, ns, "skipped: %s cannot import xapian (apt-get install python3-xapian)", *py);
    }
    return note[0] == 0;
}

int pipe_bm25_search(pipe_ctx *p, const char *queries_tsv, int64_t k, const char *out, char *note, size_t ns)
{
    note[0] = 0;
    const char *py;
    char script[1200];
    if (p->o->no_bm25) {
        snprintf(note, ns, "skipped (--no-bm25)");
        return 0;
    }
    if (!bm25_available(p, &py, script, sizeof script, note, ns)) return 0;
    /* one Xapian index of the collection per run directory, shared by every search */
    char index[1200], kbuf[32];
    snprintf(index, sizeof index, "%s/bm25.index", p->r->run_dir);
    snprintf(kbuf, sizeof kbuf, "%lld", (long long)k);
    char *argv[] = {(char *)py, script, "--collection", p->cfg->data.collection, "--queries", (char *)queries_tsv,
                    "--k", kbuf, "--index", index, "--output", (char *)out, NULL};
    pipe_log(p, "   %s %s --collection %s --queries %s --k %s --index %s --output %s\n", py, script,
             p->cfg->data.collection, queries_tsv, kbuf, index, out);
    int st = spawn_wait(argv, p->o->quiet);
    if (st != 0) snprintf(note, ns, "failed: %.180s exited with status %d", script, st);
    return 0;
}

int pipe_stage_bm25(pipe_ctx *p)
{
    char *note = p->r->bm25_note;
    size_t ns = sizeof p->r->bm25_note;
    /* the selected dev queries, as the script's input */
    char qpath[1200], out[1200];
    snprintf(qpath, sizeof qpath, "%s/dev_queries.tsv", p->r->run_dir);
    snprintf(out, sizeof out, "%s/run.bm25.trec", p->r->run_dir);
    atomic_file qf;
    BIENC_TRY(atomic_file_open(&qf, qpath));
    for (int64_t i = 0; i < p->nq; i++) fprintf(qf.f, "%s\t%.*s\n", p->qid[i], (int)p->qlen[i], p->qtext[i]);
    BIENC_TRY(atomic_file_commit(&qf));
    BIENC_TRY(pipe_bm25_search(p, qpath, p->cfg->index.k, out, note, ns));
    if (note[0]) {
        pipe_log(p, "   BM25 %s\n", note);
        return 0;
    }
    return run_read(out, &p->runs[PIPE_RUN_BM25]);
}
