/* Readers: MS MARCO TSV, triples, BEIR JSON lines, hard negatives, the Debian builder.
 * Small files written by the tests (well-formed, malformed, truncated, junk), then the
 * real sets in $BIENC_SHARED_DATA when present. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "core/error.h"

static char tmpdir[256];

static const char *write_file(const char *name, const char *content, size_t len)
{
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
    return p;
}

static const char *write_text(const char *name, const char *content) { return write_file(name, content, strlen(content)); }

static void assert_error_has(const char *needle)
{
    const char *msg = bienc_last_error();
    if (!strstr(msg, needle)) fail_msg("error '%s' lacks '%s'", msg, needle);
}

static void assert_view(const char *s, size_t len, const char *want)
{
    if (len != strlen(want) || memcmp(s, want, len) != 0) fail_msg("got '%.*s', want '%s'", (int)len, s, want);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bienc-test-readers-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- TSV id -> text ---- */

static void test_tsv_basic(void **state)
{
    /* BOM, CRLF, empty text, a blank line in the middle and a trailing blank line. */
    const char *p = write_text("collection.tsv", "\xEF\xBB\xBF" "0\tfirst passage\r\n7\t\n\n12\tthird \xC3\xA2\xE2\x82\xAC passage\n\n");
    bienc_texts *t = NULL;
    bienc_read_report rep;
    assert_int_equal(texts_load_tsv(&t, p, NULL, &rep), 0);
    assert_int_equal(texts_count(t), 3);
    assert_int_equal(rep.n_rows, 3);
    assert_int_equal(rep.n_skipped, 0);
    const char *id, *text;
    size_t il, tl;
    assert_int_equal(texts_get(t, 0, &id, &il, &text, &tl), 0);
    assert_view(id, il, "0");
    assert_view(text, tl, "first passage");
    assert_int_equal(texts_get(t, 1, &id, &il, &text, &tl), 0);
    assert_view(id, il, "7");
    assert_int_equal(tl, 0);
    assert_int_equal(texts_find(t, "12", 2), 2);
    assert_int_equal(texts_get(t, 2, NULL, NULL, &text, &tl), 0);
    assert_view(text, tl, "third \xC3\xA2\xE2\x82\xAC passage"); /* bytes pass through */
    assert_int_equal(texts_find(t, "7", 1), 1);
    assert_int_equal(texts_find(t, "1", 1), -1);
    assert_int_equal(texts_find(t, "120", 3), -1);
    assert_int_equal(texts_get(t, 3, &id, &il, &text, &tl), BIENC_ERANGE);
    assert_int_equal(texts_get(t, -1, &id, &il, &text, &tl), BIENC_ERANGE);
    texts_free(t);
    texts_free(NULL);
}

static void test_tsv_malformed(void **state)
{
    bienc_texts *t = (bienc_texts *)1;
    const char *p = write_text("c1.tsv", "1\ta\n2\tb\nthree fields? no tab here\n4\td\n");
    assert_int_equal(texts_load_tsv(&t, p, NULL, NULL), BIENC_EFORMAT);
    assert_null(t);
    assert_error_has("c1.tsv:3: expected 2 tab-separated fields (id, text), found 1");

    p = write_text("c2.tsv", "1\ta\n2\tb\tc\n");
    assert_int_equal(texts_load_tsv(&t, p, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("c2.tsv:2: expected 2 tab-separated fields (id, text), found 3");

    p = write_text("c3.tsv", "1\ta\n\tempty id\n");
    assert_int_equal(texts_load_tsv(&t, p, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("c3.tsv:2: bad id");
    assert_error_has("empty id");

    p = write_text("c4.tsv", "1\ta\nx y\tspace in id\n");
    assert_int_equal(texts_load_tsv(&t, p, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("c4.tsv:2: bad id 'x y'");

    /* Non-numeric ids are fine unless numeric ids are asked for (MS MARCO). */
    p = write_text("c5.tsv", "1\ta\nabc\tb\n");
    assert_int_equal(texts_load_tsv(&t, p, NULL, NULL), 0);
    texts_free(t);
    bienc_read_opts numeric = {.numeric_ids = 1};
    assert_int_equal(texts_load_tsv(&t, p, &numeric, NULL), BIENC_EFORMAT);
    assert_error_has("c5.tsv:2: bad id 'abc': id is not a decimal integer");

    p = write_text("c6.tsv", "1\ta\n2\tb\n1\tagain\n");
    assert_int_equal(texts_load_tsv(&t, p, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("c6.tsv:3: duplicate id '1'");

    assert_int_equal(texts_load_tsv(&t, "/nonexistent/collection.tsv", NULL, NULL), BIENC_ENOTFOUND);
    assert_error_has("/nonexistent/collection.tsv");
    assert_int_equal(texts_load_tsv(&t, tmpdir, NULL, NULL), BIENC_EIO);
}

static void test_tsv_skip(void **state)
{
    const char *p = write_text("skip.tsv", "1\ta\nno tab\n2\tb\n\tx\n1\tdup\n3\tc\td\n4\td");
    bienc_read_opts o = {.skip_malformed = 1};
    bienc_read_report rep;
    bienc_texts *t;
    assert_int_equal(texts_load_tsv(&t, p, &o, &rep), 0);
    assert_int_equal(texts_count(t), 3); /* 1, 2, 4 (no final newline) */
    assert_int_equal(rep.n_rows, 3);
    assert_int_equal(rep.n_skipped, 4);
    assert_non_null(strstr(rep.first_skip, "skip.tsv:2: expected 2"));
    const char *text;
    size_t tl;
    assert_int_equal(texts_get(t, texts_find(t, "1", 1), NULL, NULL, &text, &tl), 0);
    assert_view(text, tl, "a"); /* the first of a repeated id is kept */
    assert_int_equal(texts_get(t, texts_find(t, "4", 1), NULL, NULL, &text, &tl), 0);
    assert_view(text, tl, "d");
    texts_free(t);
}

static void test_tsv_junk(void **state)
{
    /* Binary junk: NULs, lone CRs, bytes >= 0x80, no newline at the end. */
    unsigned char junk[4096];
    uint64_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        junk[i] = (unsigned char)(x >> 56);
    }
    const char *p = write_file("junk.tsv", (const char *)junk, sizeof junk);
    bienc_texts *t;
    int rc = texts_load_tsv(&t, p, NULL, NULL);
    assert_int_equal(rc, BIENC_EFORMAT);
    assert_error_has("junk.tsv:");
    bienc_read_opts o = {.skip_malformed = 1};
    bienc_read_report rep;
    assert_int_equal(texts_load_tsv(&t, p, &o, &rep), 0);
    assert_true(rep.n_skipped > 0);
    for (int64_t i = 0; i < texts_count(t); i++) {
        const char *id, *text;
        size_t il, tl;
        assert_int_equal(texts_get(t, i, &id, &il, &text, &tl), 0);
        assert_int_equal(texts_find(t, id, il), i);
    }
    texts_free(t);
    /* An empty file is an empty store. */
    p = write_text("empty.tsv", "");
    assert_int_equal(texts_load_tsv(&t, p, NULL, &rep), 0);
    assert_int_equal(texts_count(t), 0);
    assert_int_equal(texts_find(t, "1", 1), -1);
    texts_free(t);
}

static void test_tsv_many(void **state)
{
    /* Enough rows to grow every array and exercise the hash index. */
    char *buf = malloc(20000 * 24);
    size_t n = 0;
    for (int i = 0; i < 20000; i++) n += (size_t)sprintf(buf + n, "%d\tpassage %d\n", i * 7, i);
    const char *p = write_file("many.tsv", buf, n);
    free(buf);
    bienc_texts *t;
    bienc_read_opts o = {.numeric_ids = 1};
    assert_int_equal(texts_load_tsv(&t, p, &o, NULL), 0);
    assert_int_equal(texts_count(t), 20000);
    for (int i = 0; i < 20000; i += 97) {
        char id[32], want[32];
        snprintf(id, sizeof id, "%d", i * 7);
        snprintf(want, sizeof want, "passage %d", i);
        int64_t r = texts_find(t, id, strlen(id));
        assert_int_equal(r, i);
        const char *text;
        size_t tl;
        texts_get(t, r, NULL, NULL, &text, &tl);
        assert_view(text, tl, want);
        snprintf(id, sizeof id, "%d", i * 7 + 1);
        assert_int_equal(texts_find(t, id, strlen(id)), -1);
    }
    texts_free(t);
}

/* ---- triples ---- */

static void test_triples(void **state)
{
    const char *p = write_text("triples.tsv", "what is a\tA is a letter.\tB is not.\r\nq2\t\tneg\n");
    bienc_triples *t;
    assert_int_equal(triples_load(&t, p, 0, NULL, NULL), 0);
    assert_int_equal(triples_count(t), 2);
    const char *s;
    size_t len;
    assert_int_equal(triples_get(t, 0, 0, &s, &len), 0);
    assert_view(s, len, "what is a");
    assert_int_equal(triples_get(t, 0, 2, &s, &len), 0);
    assert_view(s, len, "B is not."); /* no '\r' */
    assert_int_equal(triples_get(t, 1, 1, &s, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(triples_get(t, 1, 3, &s, &len), BIENC_ERANGE);
    triples_free(t);

    p = write_text("bad_triples.tsv", "a\tb\tc\na\tb\n");
    assert_int_equal(triples_load(&t, p, 0, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("bad_triples.tsv:2: expected 3 tab-separated fields (or 4-5 with teacher scores), found 2");

    p = write_text("id_triples.tsv", "1\t2\t3\n4\t5 5\t6\n7\t8\t9\n");
    assert_int_equal(triples_load(&t, p, 1, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("id_triples.tsv:2: bad positive pid '5 5'");
    bienc_read_opts o = {.skip_malformed = 1};
    bienc_read_report rep;
    assert_int_equal(triples_load(&t, p, 1, &o, &rep), 0);
    assert_int_equal(triples_count(t), 2);
    assert_int_equal(rep.n_skipped, 1);
    assert_int_equal(triples_line(t, 1), 3);
    assert_int_equal(triples_get(t, 1, 2, &s, &len), 0);
    assert_view(s, len, "9");
    triples_free(t);
    triples_free(NULL);
}

/* ---- BEIR JSON lines ---- */

static void test_jsonl(void **state)
{
    const char *p = write_text("corpus.jsonl",
                               "\xEF\xBB\xBF{\"_id\": \"d1\", \"title\": \"Title\", \"text\": \"Body text.\", \"metadata\": {\"a\": [1, 2]}}\r\n"
                               "{\"_id\": \"d2\", \"title\": \"\", \"text\": \"  no title \\u00e9\\t\"}\n"
                               "{\"text\": \"no title member\", \"_id\": 17}\n"
                               "{\"_id\": \"d4\", \"title\": null, \"text\": \"\"}\n");
    bienc_texts *t;
    bienc_read_report rep;
    assert_int_equal(texts_load_jsonl(&t, p, NULL, &rep), 0);
    assert_int_equal(texts_count(t), 4);
    const char *id, *text;
    size_t il, tl;
    texts_get(t, 0, &id, &il, &text, &tl);
    assert_view(id, il, "d1");
    assert_view(text, tl, "Title Body text.");
    texts_get(t, texts_find(t, "d2", 2), NULL, NULL, &text, &tl);
    assert_view(text, tl, "no title \xC3\xA9"); /* strip(title + " " + text) */
    texts_get(t, texts_find(t, "17", 2), NULL, NULL, &text, &tl);
    assert_view(text, tl, "no title member");
    texts_get(t, texts_find(t, "d4", 2), NULL, NULL, &text, &tl);
    assert_int_equal(tl, 0);
    texts_free(t);

    static const struct { const char *line, *msg; } bad[] = {
        {"{\"_id\": \"x\", \"text\": \"truncated", "invalid JSON"},
        {"{\"_id\": \"x\" \"text\": \"a\"}", "invalid JSON"},
        {"[1, 2]", "expected a JSON object"},
        {"{\"_id\": \"x\"}", "\"text\" missing"},
        {"{\"text\": \"a\"}", "\"_id\": missing"},
        {"{\"_id\": 1.5, \"text\": \"a\"}", "\"_id\": not a string"},
        {"{\"_id\": \"a b\", \"text\": \"a\"}", "bad \"_id\""},
        {"{\"_id\": \"x\", \"title\": 3, \"text\": \"a\"}", "\"title\" is not a string"},
        {"{\"_id\": \"x\", \"text\": \"a\"} junk", "invalid JSON"},
        {"\x01\x02\xff\xfe\x00junk", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char content[256];
        int n = snprintf(content, sizeof content, "{\"_id\": \"ok\", \"text\": \"fine\"}\n%s\n", bad[i].line);
        size_t len = (size_t)n;
        if (i == 9) { /* keep the NUL byte and what follows it */
            const char *first = "{\"_id\": \"ok\", \"text\": \"fine\"}\n";
            len = strlen(first);
            memcpy(content + len, "\x01\x02\xff\xfe\x00junk\n", 10);
            len += 10;
        }
        p = write_file("bad.jsonl", content, len);
        t = (bienc_texts *)1;
        int rc = texts_load_jsonl(&t, p, NULL, NULL);
        if (rc != BIENC_EFORMAT) fail_msg("case %zu: rc %d", i, rc);
        assert_null(t);
        assert_error_has("bad.jsonl:2: ");
        assert_error_has(bad[i].msg);
        bienc_read_opts o = {.skip_malformed = 1};
        assert_int_equal(texts_load_jsonl(&t, p, &o, &rep), 0);
        assert_int_equal(texts_count(t), 1);
        assert_int_equal(rep.n_skipped, 1);
        texts_free(t);
    }
}

/* ---- hard negatives ---- */

static void test_hardnegs(void **state)
{
    const char *p = write_text("hn.jsonl",
                               "{\"qid\": 5, \"pos\": [10, 11], \"neg\": {\"bm25\": [20, 21, 22], \"ce\": [21, 23]}}\n"
                               "{\"qid\": \"q6\", \"pos\": [\"p1\"], \"neg\": [\"p2\"]}\n");
    bienc_hardnegs *h;
    assert_int_equal(hardnegs_load(&h, p, NULL, NULL, NULL), 0);
    assert_int_equal(hardnegs_count(h), 2);
    bienc_hardneg_row r;
    assert_int_equal(hardnegs_get(h, 0, &r), 0);
    assert_view(r.qid.s, r.qid.len, "5");
    assert_int_equal(r.n_pos, 2);
    assert_view(r.pos[1].s, r.pos[1].len, "11");
    assert_int_equal(r.n_neg, 4); /* 20 21 22 23: the repeated 21 once */
    assert_view(r.neg[3].s, r.neg[3].len, "23");
    assert_int_equal(r.line, 1);
    assert_int_equal(hardnegs_get(h, 1, &r), 0);
    assert_view(r.qid.s, r.qid.len, "q6");
    assert_int_equal(r.n_neg, 1);
    assert_int_equal(hardnegs_get(h, 2, &r), BIENC_ERANGE);
    hardnegs_free(h);

    assert_int_equal(hardnegs_load(&h, p, "ce", NULL, NULL), 0);
    hardnegs_get(h, 0, &r);
    assert_int_equal(r.n_neg, 2);
    assert_view(r.neg[0].s, r.neg[0].len, "21");
    hardnegs_free(h);

    static const char *bad[] = {
        "{\"qid\": 1, \"pos\": [], \"neg\": {}}",
        "{\"qid\": 1, \"pos\": [2], \"neg\": {\"x\": [3, \"a b\"]}}",
        "{\"qid\": 1, \"pos\": [2]}",
        "{\"qid\": -1, \"pos\": [2], \"neg\": []}",
        "{\"qid\": 1, \"pos\": [2], \"neg\": {\"x\": 3}}",
        "{\"qid\": 1, \"pos\": [2], \"neg\": {\"x\": [3,",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char content[256];
        snprintf(content, sizeof content, "{\"qid\": 0, \"pos\": [1], \"neg\": {\"a\": [2]}}\n%s\n", bad[i]);
        p = write_text("bad_hn.jsonl", content);
        if (hardnegs_load(&h, p, NULL, NULL, NULL) != BIENC_EFORMAT) fail_msg("case %zu accepted", i);
        assert_error_has("bad_hn.jsonl:2: ");
        bienc_read_opts o = {.skip_malformed = 1};
        bienc_read_report rep;
        assert_int_equal(hardnegs_load(&h, p, NULL, &o, &rep), 0);
        assert_int_equal(hardnegs_count(h), 1);
        assert_int_equal(rep.n_skipped, 1);
        hardnegs_get(h, 0, &r);
        assert_int_equal(r.n_neg, 1);
        hardnegs_free(h);
    }
}

/* ---- the Debian builder on a small Translation-en written here ---- */

static char *slurp(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_debian_small(void **state)
{
    char lists[512], out[512];
    snprintf(lists, sizeof lists, "%s/lists", tmpdir);
    snprintf(out, sizeof out, "%s/deb-out/nested", tmpdir);
    assert_int_equal(mkdir(lists, 0777), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/example_dists_x_main_i18n_Translation-en", lists);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* 40 distinct packages, plus: an exact duplicate description (same md5), a package
     * without long description, a second package with the same long description, one with
     * the same short description in other case, and a repeated package name. */
    for (int i = 0; i < 40; i++)
        fprintf(f, "Package: pkg%02d\nDescription-md5: %032d\nDescription-en: tool number %d\n"
                   " First paragraph of package %d\n with\ttabs.\n .\n Second paragraph.\n\n", i, i, i, i);
    fprintf(f, "Package: dup-md5\nDescription-md5: %032d\nDescription-en: tool number 3\n"
               " First paragraph of package 3\n with\ttabs.\n .\n Second paragraph.\n\n", 3);
    fprintf(f, "Package: nolong\nDescription-md5: aaaa\nDescription-en: only a short one\n\n");
    fprintf(f, "Package: samepassage\nDescription-md5: bbbb\nDescription-en: something else\n"
               " First paragraph of package 7\n with\ttabs.\n .\n Second paragraph.\n\n");
    fprintf(f, "Package: samequery\nDescription-md5: cccc\nDescription-en: TOOL NUMBER 9\n Another text.\n\n");
    fprintf(f, "Package: pkg05\nDescription-md5: dddd\nDescription-en: newer pkg05\n Newer text.\n");
    fclose(f);

    bienc_debian_opts o;
    debian_default_opts(&o);
    o.output_dir = out;
    o.apt_lists_dir = lists;
    o.source = DEBIAN_SOURCE_APT;
    bienc_debian_stats st;
    assert_int_equal(debian_build(&o, &st), 0);
    assert_string_equal(st.source, "apt");
    assert_int_equal(st.n_files, 1);
    assert_int_equal(st.n_entries, 45);
    assert_int_equal(st.n_dup_description, 1);
    assert_int_equal(st.n_empty, 1);
    assert_int_equal(st.n_dup_passage, 1);
    assert_int_equal(st.n_dup_query, 1);
    assert_int_equal(st.n_dup_package, 1);
    assert_int_equal(st.n_passages, 40);
    assert_int_equal(st.n_queries[0] + st.n_queries[1] + st.n_queries[2], 40);
    assert_int_equal(st.n_triples, st.n_queries[0]);

    char *col = slurp(out, "collection.tsv");
    assert_non_null(col);
    assert_int_equal(count_lines(col), 40);
    assert_non_null(strstr(col, "\tFirst paragraph of package 12 with tabs. Second paragraph.\n"));
    /* pkg05 twice: one description kept (the smaller one by bytes, whatever the file order). */
    assert_true((strstr(col, "\tNewer text.\n") != NULL) != (strstr(col, "package 5 with") != NULL));
    char *qt = slurp(out, "queries.train.tsv"), *rt = slurp(out, "qrels.train.tsv");
    char *tr = slurp(out, "triples.train.tsv");
    assert_int_equal(count_lines(qt), st.n_queries[0]);
    assert_int_equal(count_lines(rt), st.n_queries[0]);
    assert_int_equal(count_lines(tr), st.n_queries[0]);
    /* Every qrels line is "qid 0 pid 1" with the qid in the queries file. */
    long long qid, pid;
    int a, b, used;
    assert_int_equal(sscanf(rt, "%lld %d %lld %d%n", &qid, &a, &pid, &b, &used), 4);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_true(qid >= 1000000 && pid >= 0 && pid < 40);
    char want[64];
    snprintf(want, sizeof want, "%lld\t", qid);
    assert_true(strncmp(qt, want, strlen(want)) == 0);
    /* Same seed, same files; the split does not depend on the seed. */
    char out2[512];
    snprintf(out2, sizeof out2, "%s/deb-out2", tmpdir);
    o.output_dir = out2;
    assert_int_equal(debian_build(&o, &st), 0);
    char *tr2 = slurp(out2, "triples.train.tsv"), *qt2 = slurp(out2, "queries.train.tsv");
    assert_string_equal(tr, tr2);
    o.seed = 7;
    assert_int_equal(debian_build(&o, &st), 0);
    char *tr3 = slurp(out2, "triples.train.tsv"), *qt3 = slurp(out2, "queries.train.tsv");
    assert_string_equal(qt2, qt3);
    if (st.n_queries[0] > 3) assert_string_not_equal(tr, tr3);
    free(col), free(qt), free(rt), free(tr), free(tr2), free(qt2), free(tr3), free(qt3);

    /* No lists: APT fails with the hint, AUTO falls back to the status file. */
    o.apt_lists_dir = "/nonexistent";
    assert_int_equal(debian_build(&o, &st), BIENC_ENOTFOUND);
    assert_error_has("apt-get update -o Acquire::Languages=en");
    o.source = DEBIAN_SOURCE_AUTO;
    o.dpkg_status = path; /* a stanza file all the same */
    assert_int_equal(debian_build(&o, &st), 0);
    assert_int_equal(st.fell_back, 1);
    assert_string_equal(st.source, "dpkg");
    assert_int_equal(st.n_passages, 40);
}

/* ---- real data ---- */

static const char *shared(const char *rel, char *buf, size_t cap)
{
    const char *root = getenv("BIENC_SHARED_DATA");
    if (!root || !*root) return NULL;
    snprintf(buf, cap, "%s/%s", root, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static void test_real_msmarco(void **state)
{
    char buf[1024];
    if (!shared("msmarco-dl19/collection.tsv", buf, sizeof buf)) {
        print_message("skipped: $BIENC_SHARED_DATA/msmarco-dl19 absent\n");
        skip();
    }
    bienc_read_opts o = {.numeric_ids = 1};
    bienc_texts *c, *q;
    assert_int_equal(texts_load_tsv(&c, buf, &o, NULL), 0);
    assert_int_equal(texts_count(c), 15939);
    shared("msmarco-dl19/queries.tsv", buf, sizeof buf);
    assert_int_equal(texts_load_tsv(&q, buf, &o, NULL), 0);
    assert_int_equal(texts_count(q), 43);
    const char *text;
    size_t tl;
    assert_int_equal(texts_get(q, texts_find(q, "19335", 5), NULL, NULL, &text, &tl), 0);
    assert_view(text, tl, "anthropological definition of environment");
    texts_free(c);
    texts_free(q);

    assert_non_null(shared("msmarco-triples-sample/triples.tsv", buf, sizeof buf));
    bienc_triples *t;
    assert_int_equal(triples_load(&t, buf, 0, NULL, NULL), 0);
    assert_int_equal(triples_count(t), 100);
    const char *s;
    size_t len;
    triples_get(t, 0, 0, &s, &len);
    assert_view(s, len, "is a little caffeine ok during pregnancy");
    triples_get(t, 0, 1, &s, &len);
    assert_true(len > 10 && memcmp(s, "We don\xC3\xA2\xC2\x80\xC2\x99t", 11) == 0); /* mojibake kept */
    triples_free(t);
    assert_non_null(shared("msmarco-triples-sample/collection.tsv", buf, sizeof buf));
    assert_int_equal(texts_load_tsv(&c, buf, &o, NULL), 0);
    assert_int_equal(texts_count(c), 89);
    texts_free(c);
}

static void test_real_scifact(void **state)
{
    char buf[1024];
    if (!shared("scifact/corpus.jsonl", buf, sizeof buf)) {
        print_message("skipped: $BIENC_SHARED_DATA/scifact absent\n");
        skip();
    }
    bienc_texts *c, *q;
    assert_int_equal(texts_load_jsonl(&c, buf, NULL, NULL), 0);
    assert_int_equal(texts_count(c), 5183);
    const char *text;
    size_t tl;
    assert_int_equal(texts_get(c, texts_find(c, "4983", 4), NULL, NULL, &text, &tl), 0);
    const char *want = "Microstructural development of human newborn cerebral white matter assessed in vivo by "
                       "diffusion tensor magnetic resonance imaging. Alterations of the architecture";
    assert_true(tl > strlen(want) && memcmp(text, want, strlen(want)) == 0);
    shared("scifact/queries.jsonl", buf, sizeof buf);
    assert_int_equal(texts_load_jsonl(&q, buf, NULL, NULL), 0);
    assert_int_equal(texts_count(q), 1109);
    assert_int_equal(texts_get(q, texts_find(q, "0", 1), NULL, NULL, &text, &tl), 0);
    assert_view(text, tl, "0-dimensional biomaterials lack inductive properties.");
    texts_free(c);
    texts_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsv_basic),    cmocka_unit_test(test_tsv_malformed), cmocka_unit_test(test_tsv_skip),
        cmocka_unit_test(test_tsv_junk),     cmocka_unit_test(test_tsv_many),      cmocka_unit_test(test_triples),
        cmocka_unit_test(test_jsonl),        cmocka_unit_test(test_hardnegs),      cmocka_unit_test(test_debian_small),
        cmocka_unit_test(test_real_msmarco), cmocka_unit_test(test_real_scifact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
