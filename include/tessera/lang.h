/* The Tessera array language (.tsl): S-expression programs that every rank
 * runs identically (SPMD), issuing asynchronous distributed-array operations.
 * docs/language.md is the grammar and the builtin reference.
 *
 * Life of a program: tsr_program_parse (syntax and names: no MPI needed),
 * tsr_program_check (shapes, from the bindings alone: no MPI, no array work),
 * tsr_program_run (collective: every rank calls it with the same program
 * and bindings, after tsr_init). Every error message starts with
 * "FILE:LINE:COL: " where the program is at fault, names the builtin for
 * failures inside one, and is the same on every rank. */
#ifndef TESSERA_LANG_H
#define TESSERA_LANG_H

#include "tessera/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_program_s tsr_program_t;

/* Parse `text` (NUL-terminated) named `file` in messages, or, when text is
 * NULL, read the file `file`. Checks syntax, special-form structure, names
 * (with a did-you-mean suggestion) and the argument counts of builtins and
 * of user functions. Errors: TSR_ERR_IO (file unreadable), TSR_ERR_INVALID
 * (syntax, form structure, argument count), TSR_ERR_NOT_FOUND (unknown
 * name). */
TSR_API int tsr_program_parse(const char *file, const char *text, tsr_program_t **out);
TSR_API void tsr_program_free(tsr_program_t **p);

/* A value for one parameter of the program's top-level `main`: a number, or
 * a .npy file loaded as the parameter's array. */
typedef struct tsr_lang_binding {
    const char *name;
    const char *npy_path; /* NULL: a number */
    double number;
} tsr_lang_binding;

/* After the run, save variable `name` (main's local or a global; `result`
 * is main's value unless a variable has that name) to a .npy file. */
typedef struct tsr_lang_output {
    const char *name;
    const char *npy_path;
} tsr_lang_output;

typedef struct tsr_lang_options {
    int P, Q;       /* process grid; 0, 0: nranks x 1 (rows spread over ranks) */
    int64_t tile;   /* square tiles tile x tile; 0: default (256) */
    int progress;   /* 1: long loops report progress on rank 0's stderr */
    int timing;     /* 1: rank 0 reports on stderr where the time went: the
                     * phases, and each outermost loop's time per iteration
                     * (such a loop then waits for its last work at its end,
                     * so the time is the work's, not the issuing's) */
} tsr_lang_options;

/* Bindings must name main's parameters exactly (each once, all of them);
 * a program without main takes none. Reads only .npy headers. Errors:
 * TSR_ERR_INVALID (binding names or counts), TSR_ERR_IO (a file), and the
 * program's own: TSR_ERR_SHAPE, TSR_ERR_INVALID (wrong type), each at
 * FILE:LINE:COL. Outputs are checked to name a variable too. */
TSR_API int tsr_program_check(tsr_program_t *p, int nbind, const tsr_lang_binding *b, int nout,
                              const tsr_lang_output *outs);

/* The part of tsr_program_check that needs no evaluation: --arg names
 * against main's parameters (each once, all of them), the --arg files'
 * .npy headers, and that each --out names a variable (a parameter or a
 * variable of main's body, a top-level variable, or `result`). Errors:
 * TSR_ERR_INVALID, TSR_ERR_IO, with messages that start "--arg NAME: " or
 * "--out NAME: " (a command-line mistake rather than the program's). */
TSR_API int tsr_program_check_args(tsr_program_t *p, int nbind, const tsr_lang_binding *b,
                                   int nout, const tsr_lang_output *outs);

/* Collective. Checks as tsr_program_check does, then runs top-level forms
 * and then main, then saves the outputs (each through a temporary file and
 * a rename). opts may be NULL. Runtime failures (singular matrix, file
 * missing, a shape only known while running) give the builtin's status with
 * "FILE:LINE:COL: BUILTIN: ..." on every rank. If main returns a number, a
 * boolean or a string and *result_text is non-NULL, *result_text gets it
 * printed (malloc'd; NULL otherwise). */
TSR_API int tsr_program_run(tsr_program_t *p, int nbind, const tsr_lang_binding *b, int nout,
                            const tsr_lang_output *outs, const tsr_lang_options *opts,
                            char **result_text);

#ifdef __cplusplus
}
#endif
#endif
