/* libFuzzer harness: the array language's parser, resolver and shape checker
 * (src/lang), as `tessera check` runs them: tsr_program_parse, then
 * tsr_program_check_args and tsr_program_check with bindings for main's
 * parameters. No MPI is started: nothing on this path may need it, exit or
 * abort; every mistake must come back as a status and a message.
 *
 * The input is the program text (up to its first NUL byte). main's
 * parameters are bound from a directive comment anywhere in it,
 *     ;@ X=8x4 y=8, s=() alpha=0.5 flag=true >w >result
 * NAME=MxN a 2-D .npy file of that shape, NAME=N, a 1-D one, NAME=() a 0-D
 * one, NAME=NUMBER or true/false a number; >NAME asks for --out NAME.
 * Parameters without one get, by position, 8x4, 8, and 3 in turn. The .npy
 * files are made on demand (sparse, header and size only) in a temporary
 * directory that is also the working directory, so a program's own
 * relative load/save paths land there (libFuzzer's relative paths on the
 * command line are made absolute first). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array/npy.h"
#include "lang/front.h"
#include "tessera.h"

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "fuzz_lang: %s:%d: %s\n", __FILE__, __LINE__, #c);                    \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

#define MAX_PARAMS 32
#define MAX_OUTS 8
/* Largest dimension a directive may ask for: big enough for the checker's
 * int64 shape arithmetic to matter, small enough for a sparse file. */
#define MAX_DIM ((int64_t)1 << 31)

static char tmpdir[64];

static void cleanup(void) {
    if (!tmpdir[0]) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_lang: could not remove %s\n", tmpdir);
}

/* libFuzzer's own paths (corpus directories, files to run, artifact prefix,
 * dictionary) made absolute, since we change directory below; the copies
 * live as long as the process. */
static void absolute_paths(int argc, char **argv) {
    static const char *flags[] = {"-artifact_prefix=", "-exact_artifact_path=", "-dict="};
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *prefix = "";
        size_t plen = 0;
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
            if (!strncmp(a, flags[f], strlen(flags[f]))) prefix = flags[f], plen = strlen(flags[f]);
        if (a[0] == '-' && !plen) continue;
        if (a[plen] == '/' || a[plen] == '\0') continue;
        size_t n = strlen(cwd) + strlen(a) + 2;
        char *abs = malloc(n);
        if (!abs) continue;
        snprintf(abs, n, "%.*s%s/%s", (int)plen, prefix, cwd, a + plen);
        argv[i] = abs;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    absolute_paths(*argc, *argv);
    /* As cmd_run.c does: deep recursion is stopped by the language's own
     * limit, not by the stack. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < ((rlim_t)64 << 20)) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > ((rlim_t)64 << 20)
                          ? (rlim_t)64 << 20
                          : rl.rlim_max;
        setrlimit(RLIMIT_STACK, &rl);
    }
    const char *base = getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 30 ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/tsr-fuzz-lang-XXXXXX", base);
    if (!mkdtemp(tmpdir) || chdir(tmpdir) != 0) {
        fprintf(stderr, "fuzz_lang: cannot make a working directory: %s\n", strerror(errno));
        exit(1);
    }
    atexit(cleanup);
    return 0;
}

/* The .npy file for a shape: header from the writer, then a sparse data
 * region of the right length. Returns a malloc'd path, NULL if impossible. */
static char *npy_file(int ndim, int64_t m, int64_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/a%d_%lld_%lld.npy", tmpdir, ndim, (long long)m, (long long)n);
    struct stat st;
    if (stat(path, &st) != 0) {
        char hdr[256];
        size_t k = ndim == 0 ? 0 : tsr__npy_write_header_nd(ndim, m, n, hdr, sizeof hdr);
        if (ndim == 0) {
            const char dict[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
            k = 128;
            memset(hdr, ' ', k);
            memcpy(hdr, "\x93NUMPY\x01\x00", 8);
            hdr[8] = (char)(k - 10);
            hdr[9] = 0;
            memcpy(hdr + 10, dict, sizeof dict - 1);
            hdr[k - 1] = '\n';
        }
        if (k == 0) return NULL;
        FILE *f = fopen(path, "wb");
        if (!f) return NULL;
        int ok = fwrite(hdr, 1, k, f) == k;
        fclose(f);
        if (ok) ok = truncate(path, (off_t)(k + (size_t)(m * n) * 8)) == 0;
        if (!ok) {
            unlink(path);
            return NULL;
        }
    }
    return strdup(path);
}

static int parse_dim(const char **s, int64_t *v) {
    char *end;
    if (**s < '0' || **s > '9') return -1;
    errno = 0;
    long long x = strtoll(*s, &end, 10);
    if (errno || x < 0 || x > MAX_DIM) return -1;
    *v = x;
    *s = end;
    return 0;
}

/* One binding from SPEC; 0 when SPEC is not one. */
static int binding(const char *name, const char *spec, tsr_lang_binding *b) {
    *b = (tsr_lang_binding){.name = NULL};
    const char *s = spec;
    int64_t m = 0, n = 0;
    char *end;
    if (!strcmp(spec, "()")) {
        b->npy_path = npy_file(0, 1, 1);
    } else if (parse_dim(&s, &m) == 0 && *s == 'x' && (s++, parse_dim(&s, &n) == 0) && !*s) {
        if (m * n > ((int64_t)1 << 37)) return 0;
        b->npy_path = npy_file(2, m, n);
    } else if ((s = spec, parse_dim(&s, &m) == 0) && s[0] == ',' && !s[1]) {
        if (m > ((int64_t)1 << 37)) return 0;
        b->npy_path = npy_file(1, m, 1);
    } else if (!strcmp(spec, "true") || !strcmp(spec, "false")) {
        b->number = !strcmp(spec, "true");
    } else {
        errno = 0;
        double x = strtod(spec, &end);
        if (end == spec || *end || !isfinite(x)) return 0;
        b->number = x;
    }
    b->name = strdup(name);
    return 1;
}

/* Words of the ";@ ..." directives, in order (malloc'd copies). */
static int directive_words(const char *text, char **words, int max) {
    int n = 0;
    for (const char *p = strstr(text, ";@"); p && n < max; p = strstr(p, ";@")) {
        p += 2;
        while (*p && *p != '\n' && n < max) {
            while (*p == ' ' || *p == '\t') p++;
            const char *w = p;
            while (*p && *p != '\n' && *p != ' ' && *p != '\t') p++;
            if (p > w && p - w < 256) words[n++] = strndup(w, (size_t)(p - w));
        }
    }
    return n;
}

/* main's parameter names, from the unresolved tree (as program.c finds main). */
static int main_params(const tsr__node *top, const char **names, int max) {
    for (int i = 0; i < top->nkids; i++) {
        const tsr__node *k = top->kids[i];
        if (k->kind == TSR__N_LIST && k->nkids >= 3 && k->kids[0]->kind == TSR__N_SYM &&
            !strcmp(k->kids[0]->text, "define") && k->kids[1]->kind == TSR__N_LIST && k->kids[1]->nkids >= 1 &&
            k->kids[1]->kids[0]->text && !strcmp(k->kids[1]->kids[0]->text, "main")) {
            int n = 0;
            for (int j = 1; j < k->kids[1]->nkids && n < max; j++)
                if (k->kids[1]->kids[j]->kind == TSR__N_SYM) names[n++] = k->kids[1]->kids[j]->text;
            return n;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    tsr_program_t *p = NULL;
    int rc = tsr_program_parse("fuzz.tsl", text, &p);
    if (rc != TSR_OK) {
        CHECK(p == NULL);
        CHECK(rc == TSR_ERR_INVALID || rc == TSR_ERR_NOT_FOUND || rc == TSR_ERR_NOMEM);
        CHECK(tsr_error_message()[0] != '\0');
        free(text);
        return 0;
    }
    CHECK(p != NULL);

    /* The tree again, for main's parameter names. */
    tsr__node *top = NULL;
    CHECK(tsr__parse("fuzz.tsl", text, &top) == TSR_OK);
    const char *params[MAX_PARAMS];
    int np = main_params(top, params, MAX_PARAMS);

    char *words[64];
    int nw = directive_words(text, words, 64);
    tsr_lang_binding binds[MAX_PARAMS];
    tsr_lang_output outs[MAX_OUTS];
    int nb = 0, no = 0;
    for (int i = 0; i < np; i++) {
        const char *spec = NULL;
        size_t len = strlen(params[i]);
        for (int w = 0; w < nw && !spec; w++)
            if (!strncmp(words[w], params[i], len) && words[w][len] == '=') spec = words[w] + len + 1;
        static const char *defaults[] = {"8x4", "8,", "3"};
        if (!spec || !binding(params[i], spec, &binds[nb]))
            if (!binding(params[i], defaults[i % 3], &binds[nb])) continue;
        if (binds[nb].name) nb++;
    }
    for (int w = 0; w < nw && no < MAX_OUTS; w++) {
        if (words[w][0] == '>' && words[w][1]) {
            char path[300];
            snprintf(path, sizeof path, "%s/out%d.npy", tmpdir, no);
            outs[no].name = strdup(words[w] + 1);
            outs[no].npy_path = strdup(path);
            no++;
        }
    }

    rc = tsr_program_check(p, nb, binds, no, outs);
    if (rc != TSR_OK) {
        CHECK(rc < 0);
        CHECK(tsr_error_message()[0] != '\0');
    }

    for (int i = 0; i < nb; i++) {
        free((char *)binds[i].name);
        free((char *)binds[i].npy_path);
    }
    for (int i = 0; i < no; i++) {
        free((char *)outs[i].name);
        free((char *)outs[i].npy_path);
    }
    for (int w = 0; w < nw; w++) free(words[w]);
    tsr__node_free(top);
    tsr_program_free(&p);
    free(text);
    return 0;
}
