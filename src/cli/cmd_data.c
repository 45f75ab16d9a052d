/* bienc data: builds data sets. `bienc data debian` turns the Debian package descriptions
 * on this machine into an MS MARCO style retrieval set (no download needed). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "data/data.h"
#include "core/error.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/os.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bienc data debian [--output DIR] [--seed S] [--source auto|apt|dpkg]\n"
            "\n"
            "Builds an MS MARCO style retrieval set from the Debian package descriptions on this\n"
            "machine: short description = query, long description = its relevant passage.\n"
            "\n"
            "  --output DIR    where to write (default data/debian; created if missing)\n"
            "  --seed S        seed of the random negatives in triples.train.tsv (default 42)\n"
            "  --source SRC    apt: /var/lib/apt/lists/*_i18n_Translation-en* (~60k packages),\n"
            "                  dpkg: /var/lib/dpkg/status (installed packages only: small),\n"
            "                  auto (default): apt when present, else dpkg with a warning\n"
            "  --lists DIR     apt lists directory (default /var/lib/apt/lists)\n"
            "  --status FILE   dpkg status file (default /var/lib/dpkg/status)\n"
            "  --quiet         print only the summary\n"
            "\n"
            "Writes collection.tsv (pid\\tpassage), queries.{train,dev,test}.tsv (qid\\tquery),\n"
            "qrels.{train,dev,test}.tsv (TREC: qid 0 pid 1) and triples.train.tsv\n"
            "(query\\tpositive\\tnegative). Splits (80/10/10) follow a hash of the package name.\n"
            "The English descriptions come with `apt-get update -o Acquire::Languages=en` (root).\n");
}

static int cmd_data_debian(int argc, char **argv)
{
    bienc_debian_opts o;
    debian_default_opts(&o);
    o.verbose = 1;
    for (int i = 1; i < argc; i++) {
        const char *s;
        int64_t v;
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if ((rc = arg_string(argc, argv, &i, "--output", &o.output_dir))) {
            if (rc < 0) return 2;
        } else if ((rc = arg_int(argc, argv, &i, "--seed", 0, INT64_MAX, &v))) {
            if (rc < 0) return 2;
            o.seed = (uint64_t)v;
        } else if ((rc = arg_string(argc, argv, &i, "--source", &s))) {
            if (rc < 0) return 2;
            if (strcmp(s, "auto") == 0) o.source = DEBIAN_SOURCE_AUTO;
            else if (strcmp(s, "apt") == 0) o.source = DEBIAN_SOURCE_APT;
            else if (strcmp(s, "dpkg") == 0) o.source = DEBIAN_SOURCE_DPKG;
            else {
                fprintf(stderr, "bienc data debian: --source takes auto, apt or dpkg, not '%s'\n", s);
                return 2;
            }
        } else if ((rc = arg_string(argc, argv, &i, "--lists", &o.apt_lists_dir))) {
            if (rc < 0) return 2;
        } else if ((rc = arg_string(argc, argv, &i, "--status", &o.dpkg_status))) {
            if (rc < 0) return 2;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            o.verbose = 0;
        } else {
            return arg_unknown("data debian", argv[i]);
        }
    }
    double t0 = os_now();
    bienc_debian_stats st;
    if (debian_build(&o, &st) < 0) return cli_fail("data debian");
    double secs = os_now() - t0;
    printf("source: %s (%d file%s), %lld descriptions read\n", st.source, st.n_files, st.n_files == 1 ? "" : "s",
           (long long)st.n_entries);
    printf("dropped: %lld same description, %lld repeated package, %lld without long description, "
           "%lld same passage, %lld same query\n",
           (long long)st.n_dup_description, (long long)st.n_dup_package, (long long)st.n_empty,
           (long long)st.n_dup_passage, (long long)st.n_dup_query);
    printf("collection: %lld passages\n", (long long)st.n_passages);
    printf("queries: train %lld, dev %lld, test %lld\n", (long long)st.n_queries[0], (long long)st.n_queries[1],
           (long long)st.n_queries[2]);
    printf("triples.train: %lld\n", (long long)st.n_triples);
    printf("written to %s in %.1f s\n", o.output_dir, secs);
    if (st.fell_back)
        fprintf(stderr,
                "warning: no apt translations in %s, so this set comes from %s (installed packages only: small).\n"
                "  For ~60k packages run `apt-get update -o Acquire::Languages=en` (as root), then rerun.\n",
                o.apt_lists_dir, o.dpkg_status);
    return 0;
}

int cmd_data(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "debian") == 0) return cmd_data_debian(argc - 1, argv + 1);
    fprintf(stderr, "bienc data: unknown data set '%s' (known: debian)\n", argv[1]);
    return 2;
}
