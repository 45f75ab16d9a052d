/* The one writer of output files (STYLE.md: "one atomic file writer"). Everything bienc
 * writes (runs, JSON, TSV, vocabularies, embeddings, indexes, checkpoints) goes to a
 * temporary file beside its final name, `PATH.tmp`; committing flushes and fsyncs it,
 * renames it over PATH and fsyncs the directory. On any failure the temporary is removed and
 * an existing PATH is left as it was, so a reader never sees a cut-off file. Messages name
 * the file and the OS reason (strerror). */
#ifndef BIENC_CORE_ATOMIC_FILE_H
#define BIENC_CORE_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct atomic_file {
    FILE *f;    /* stdio stream on the temporary (NULL after atomic_file_reserve) */
    char *path; /* final name */
    char *tmp;  /* PATH.tmp */
} atomic_file;

/* Creates PATH.tmp (a leftover one from a killed run is replaced) and opens it for binary
 * writing in a->f. 0 or a negative status; on failure nothing is left behind. */
int atomic_file_open(atomic_file *a, const char *path);

/* Same, for writers that open the temporary themselves (HDF5: H5Fcreate(a->tmp, TRUNC));
 * a->f stays NULL. They must close their handle before atomic_file_commit. */
int atomic_file_reserve(atomic_file *a, const char *path);

/* Flushes (checking every stdio error), fsyncs, renames PATH.tmp over PATH, fsyncs the
 * directory and releases `a`. On failure the temporary is removed and the old PATH kept. */
int atomic_file_commit(atomic_file *a);

/* Closes and removes the temporary; PATH is untouched. No-op on a zeroed struct. */
void atomic_file_abort(atomic_file *a);

/* Commit when rc == 0, else abort and return rc: the usual end of a writer. */
int atomic_file_finish(atomic_file *a, int rc);

/* Refuses an output that is the same file as one of the inputs (same device and inode, so
 * links and "./x" spellings are caught), or whose temporary PATH.tmp is: BIENC_EINVAL naming
 * both. NULL inputs, "-" and outputs that do not exist yet are fine. */
int atomic_file_check_inputs(const char *output, const char *const *inputs, size_t n);

/* Checks and clears the error state of a stream the caller wrote to and does not own
 * (stdout): fflush + ferror, so `bienc eval > /dev/full` fails. `what` names it. */
int atomic_stream_check(FILE *f, const char *what);

#endif
