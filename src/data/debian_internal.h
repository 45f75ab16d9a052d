/* The Debian data set builder's internals: parsed entries, selection and writing. */
#ifndef BIENC_DEBIAN_INTERNAL_H
#define BIENC_DEBIAN_INTERNAL_H

#include <stdint.h>

#include "data/data.h"

typedef struct deb_entry {
    char *pkg;           /* package name */
    char *query;         /* short description, whitespace-normalized */
    char *passage;       /* long description, paragraphs joined, whitespace-normalized ("" if none) */
    uint64_t desc_hash;  /* hash of Description-md5 (or of the description text when absent) */
    int split;           /* 0 train, 1 dev, 2 test; -1 dropped */
    int64_t pid, qid;
} deb_entry;

typedef struct deb_entries {
    deb_entry *e;
    int64_t n, cap;
} deb_entries;

void deb_entries_init(deb_entries *es);
void deb_entries_free(deb_entries *es);

/* Appends the stanzas of one list (Translation-en, possibly compressed, or dpkg status). */
int deb_read_file(deb_entries *es, const char *path);

/* Sorts, drops duplicates and empty passages, assigns splits and ids (debian_write.c). */
int deb_select(deb_entries *es, bienc_debian_stats *st);
/* Writes collection, queries, qrels and triples into dir. */
int deb_write(const deb_entries *es, const char *dir, uint64_t seed, bienc_debian_stats *st);

/* Which split a package belongs to: a hash of its name, 80 / 10 / 10. */
int deb_split_of(const char *pkg);

#endif
