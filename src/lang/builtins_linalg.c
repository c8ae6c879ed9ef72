/* Builtins: (being written; see lang_internal.h for the interface). */
#include "lang/lang_internal.h"

const tsr__builtin tsr__builtins_linalg[] = {
    {NULL, 0, 0, NULL, NULL},
};
