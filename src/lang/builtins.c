/* The builtin table: one fragment per builtins_*.c, concatenated here in a
 * fixed order so that indices are the same on every rank and every run. */
#include <string.h>

#include "lang/lang_internal.h"

static const tsr__builtin *const fragments[] = {
    tsr__builtins_scalar, tsr__builtins_reduce, tsr__builtins_create,
    tsr__builtins_linalg, tsr__builtins_shape,  tsr__builtins_io,
};
#define NFRAGMENTS (int)(sizeof fragments / sizeof fragments[0])

static int fragment_len(const tsr__builtin *f) {
    int n = 0;
    while (f[n].name) n++;
    return n;
}

int tsr__builtin_count(void) {
    int n = 0;
    for (int i = 0; i < NFRAGMENTS; i++) n += fragment_len(fragments[i]);
    return n;
}

const tsr__builtin *tsr__builtin_at(int index) {
    if (index < 0) return NULL;
    for (int i = 0; i < NFRAGMENTS; i++) {
        int len = fragment_len(fragments[i]);
        if (index < len) return &fragments[i][index];
        index -= len;
    }
    return NULL;
}

int tsr__builtin_find(const char *name) {
    int base = 0;
    for (int i = 0; i < NFRAGMENTS; i++) {
        for (int j = 0; fragments[i][j].name; j++)
            if (!strcmp(fragments[i][j].name, name)) return base + j;
        base += fragment_len(fragments[i]);
    }
    return -1;
}
