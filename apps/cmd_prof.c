/* tessera prof: summaries and plots of a trace, by apps/tessera_prof.py (the
 * analysis -- busy/idle, kinds, messages, critical path, IR lines -- and the
 * plots are Python with matplotlib). */
#include "cmd.h"

int cmd_prof(int argc, char **argv) {
    return app_run_python("prof", "tessera_prof.py", NULL, 0, "python3 python3-matplotlib", argc,
                          argv);
}
