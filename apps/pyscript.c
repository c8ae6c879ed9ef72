/* The subcommands written in Python (prof, scale, submit/status/fetch): find
 * the script and replace this process with /usr/bin/python3 running it.
 *
 * The script is looked up in the source tree first (TSR_SOURCE_DIR, so a
 * build tree runs the checkout's script without installing), then in the
 * installed data directory. Needs no MPI. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#ifndef TSR_SOURCE_DIR
#define TSR_SOURCE_DIR ""
#endif
#ifndef TSR_DATADIR
#define TSR_DATADIR "/usr/local/share/tessera"
#endif

#define PYTHON "/usr/bin/python3"

int app_run_python(const char *cmd, const char *script, const char *sub, int pass_self,
                   const char *packages, int argc, char **argv) {
    char path[PATH_MAX], self[PATH_MAX];
    const char *dirs[] = {TSR_SOURCE_DIR "/apps", TSR_DATADIR};
    path[0] = '\0';
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (dirs[i][0] != '/') continue; /* no source dir compiled in */
        snprintf(path, sizeof path, "%s/%s", dirs[i], script);
        if (access(path, R_OK) == 0) break;
        path[0] = '\0';
    }
    if (!path[0]) {
        fprintf(stderr, "tessera %s: %s found neither in %s/apps nor in %s\n", cmd, script,
                TSR_SOURCE_DIR[0] ? TSR_SOURCE_DIR : "(no source tree)", TSR_DATADIR);
        return 1;
    }
    self[0] = '\0';
    if (pass_self) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n < 0 ? 0 : n] = '\0';
    }

    /* python3 SCRIPT [SUB] [--tessera-exe SELF] ARGS... NULL */
    char **av = calloc((size_t)argc + 6, sizeof *av);
    if (!av) {
        fprintf(stderr, "tessera %s: out of memory\n", cmd);
        return 1;
    }
    int k = 0;
    av[k++] = PYTHON;
    av[k++] = path;
    if (sub) av[k++] = (char *)sub;
    if (self[0]) {
        av[k++] = "--tessera-exe";
        av[k++] = self;
    }
    for (int i = 1; i < argc; i++) av[k++] = argv[i];
    av[k] = NULL;
    execv(PYTHON, av);
    fprintf(stderr, "tessera %s: cannot run %s: %s (apt-get install -y %s)\n", cmd, PYTHON,
            strerror(errno), packages);
    free(av);
    return 1;
}
