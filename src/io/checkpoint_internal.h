/* Internal to the checkpoint files (checkpoint.c writes, checkpoint_read.c reads,
 * checkpoint_dir.c manages step-N.h5 directories): HDF5 plumbing shared by both sides. */
#ifndef BIENC_IO_CHECKPOINT_INTERNAL_H
#define BIENC_IO_CHECKPOINT_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "io/checkpoint.h"

/* HDF5 prints its error stack to stderr by default; our messages replace it. The previous
 * handler is restored on the way out, so other users of HDF5 keep their setting. */
typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;
void h5_quiet_begin(h5_quiet *q);
void h5_quiet_end(const h5_quiet *q);

/* The innermost message of HDF5's current error stack ("" when empty), for our messages. */
const char *h5_error_detail(char *buf, size_t size);

/* Flushes an HDF5 file this process is writing at `tmp` (a temporary that is discarded when
 * this fails): 0, or -1 with the reason in detail[size] (the OS's when it set errno; detail
 * may be NULL). After it, closing the file's objects and the file cannot fail for lack of
 * room, which HDF5 1.10 does not survive (see checkpoint.c). h5_close_written is the flush,
 * then H5Fclose: every handle is closed exactly once, even when the disk is full. */
int h5_flush_written(hid_t file, const char *tmp, char *detail, size_t size);
int h5_close_written(hid_t file, const char *tmp, char *detail, size_t size);
/* H5Fcreate(tmp, TRUNC, fcpl, fapl), refused with ENOSPC's text in detail when the file
 * system has almost no room left (HDF5 1.10 does not survive a failure inside H5Fcreate). */
hid_t h5_create_written(const char *tmp, hid_t fcpl, hid_t fapl, char *detail, size_t size);

/* The whole-file checksum (README "Checkpoints"): a 512-byte HDF5 user block, which HDF5
 * skips, holding
 *     0  "BIENCSUM"   magic
 *     8  u64 LE       file size
 *    16  u32 LE       CRC-32C of bytes [24, size) (the rest of the block, zeros, and the HDF5 file)
 *    20  u32 LE       CRC-32C of bytes [0, 20)
 * Readers verify it before HDF5 parses a byte: libhdf5 1.10 crashes on some corrupt
 * metadata (H5Lvisit on a damaged link heap, which carries no checksum). */
#define CKPT_USERBLOCK 512
#define CKPT_SUM_MAGIC "BIENCSUM"
#define CKPT_SUM_SIZE 24
/* CRC-32C of fd's bytes [from, to): 0, or -1 with errno (EIO for a short file). */
int ckpt_crc_range(int fd, uint64_t from, uint64_t to, uint32_t *crc);

/* Checks an object/attribute name (non-empty, no leading '/', no empty, "." or ".."
 * components, shorter than 4 KiB); `what` and `file` name it in the error. */
int ckpt_check_name(const char *file, const char *what, const char *name);

/* Splits "a/b/c" into the object path "a/b" ("/" when there is no '/') and the leaf "c". */
int ckpt_split_name(const char *name, char *object, size_t size, const char **leaf);

/* 1 when every component of `path` exists as a hard link (so H5*open will not fail on a
 * missing intermediate group), 0 otherwise. */
int ckpt_path_exists(hid_t file, const char *path);

/* File access properties: strong close (H5Fclose closes everything), and on create the 1.8
 * file format, whose metadata carries checksums. NULL-safe close with H5Pclose. */
hid_t ckpt_fapl(int for_create);

/* String types (caller closes): variable-length UTF-8 (read side, h5py's default) and
 * fixed-length NUL-padded UTF-8 of `size` bytes (what we write). */
hid_t ckpt_vlen_string_type(void);
hid_t ckpt_fixed_string_type(size_t size);

#endif
