/* The command line of `tessera run` and `tessera check`, parsed by a pure
 * function: no printing, no exit, no MPI, no environment. cmd_run.c prints
 * what it returns; tests/fuzz/fuzz_run_args.c calls it with fuzzed argv. */
#ifndef TSR_APP_RUN_ARGS_H
#define TSR_APP_RUN_ARGS_H

#include <stddef.h>

#include "tessera.h"

typedef struct app_run_args {
    const char *prog;        /* points into argv */
    tsr_lang_binding *binds; /* names and paths malloc'd (app_run_args_free) */
    int nbind;
    tsr_lang_output *outs;   /* likewise */
    int nout;
    const char *threads, *trace; /* point into argv; NULL when not given */
    tsr_lang_options lang;   /* P, Q, tile from --grid, --tile; 0 otherwise */
    int quiet;
    int timing;
} app_run_args;

enum app_run_args_status {
    APP_ARGS_OK = 0,    /* go on: o->prog is set */
    APP_ARGS_HELP = 1,  /* --help / -h: print the usage, exit 0 */
    APP_ARGS_USAGE = 2, /* a mistake: msg says what ("--grid needs PxQ ...") */
    APP_ARGS_NOMEM = 3, /* msg says so */
};

/* Parse argv[1..argc) of `tessera CMD` (cmd: "run" or "check", used in
 * messages) into *o. Always initialises *o; the caller frees it with
 * app_run_args_free whatever the status. msg (cap bytes, cap >= 1) gets
 * the message for APP_ARGS_USAGE / APP_ARGS_NOMEM, without the
 * "tessera CMD: " prefix, and "" otherwise. Thread-safe; never reads
 * outside the argv strings. */
int app_run_args_parse(const char *cmd, int argc, char *const *argv, app_run_args *o, char *msg,
                       size_t cap);
void app_run_args_free(app_run_args *o);

#endif
