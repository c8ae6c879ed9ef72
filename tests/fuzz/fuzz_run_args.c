/* libFuzzer harness: the command line of `tessera run` / `tessera check`
 * (apps/run_args.c). The input is argv after the subcommand, split on NUL
 * bytes (so "prog.tsl\0--arg\0x=1" is three arguments); its first byte
 * picks "run" or "check". The parser must return a status with a message
 * for every mistake, never print, exit or read outside the strings, and
 * what it accepts must be in range for the code that uses it (cmd_run.c
 * multiplies P * Q; program.c uses the tile as int64). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_args.h"

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "fuzz_run_args: %s:%d: %s\n", __FILE__, __LINE__, #c);                \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

#define MAX_ARGS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *cmd = data[0] & 1 ? "check" : "run";
    data++, size--;
    /* Each argument its own malloc'd string, as exact as ASan can watch. */
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = strdup(cmd);
    size_t start = 0;
    for (size_t i = 0; i <= size && argc < MAX_ARGS; i++) {
        if (i == size || data[i] == '\0') {
            argv[argc] = malloc(i - start + 1);
            if (!argv[argc]) break;
            memcpy(argv[argc], data + start, i - start);
            argv[argc][i - start] = '\0';
            argc++;
            start = i + 1;
        }
    }
    argv[argc] = NULL;

    app_run_args o;
    char msg[512];
    int st = app_run_args_parse(cmd, argc, argv, &o, msg, sizeof msg);
    CHECK(st >= APP_ARGS_OK && st <= APP_ARGS_NOMEM);
    CHECK(strnlen(msg, sizeof msg) < sizeof msg);
    if (st == APP_ARGS_USAGE || st == APP_ARGS_NOMEM) CHECK(msg[0] != '\0');
    else CHECK(msg[0] == '\0');
    if (st == APP_ARGS_OK) {
        CHECK(o.prog != NULL);
        CHECK(o.nbind >= 0 && o.nbind < argc && o.nout >= 0 && o.nout < argc);
        for (int i = 0; i < o.nbind; i++) {
            CHECK(o.binds[i].name && o.binds[i].name[0] && !strchr(o.binds[i].name, '='));
            CHECK(o.binds[i].npy_path ? o.binds[i].npy_path[0] != '\0'
                                      : isfinite(o.binds[i].number));
        }
        for (int i = 0; i < o.nout; i++)
            CHECK(o.outs[i].name && o.outs[i].name[0] && o.outs[i].npy_path &&
                  o.outs[i].npy_path[0]);
        CHECK((o.lang.P == 0) == (o.lang.Q == 0));
        CHECK(o.lang.P >= 0 && o.lang.Q >= 0 && (long long)o.lang.P * o.lang.Q <= INT_MAX);
        CHECK(o.lang.tile >= 0 && o.lang.tile <= (1 << 20));
        CHECK(!o.trace || o.trace[0]);
        if (o.threads) {
            long t = strtol(o.threads, NULL, 10);
            CHECK(t >= 1 && t <= 4096);
        }
    }
    app_run_args_free(&o);
    for (int i = 0; i < argc; i++) free(argv[i]);
    return 0;
}
