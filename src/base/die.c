/* The one way a fatal error leaves the process. */
#include <stdlib.h>

#include "base/internal.h"

static void (*abort_hook)(int code) = NULL;

void tsr__set_abort_hook(void (*hook)(int code)) { abort_hook = hook; }

void tsr__die(int code) {
    if (abort_hook) abort_hook(code);
    _Exit(code);
}
