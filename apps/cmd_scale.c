/* tessera scale: a scaling study, run by apps/tessera_scale.py (launching the
 * job at each size, timing, CSV, plot). The script is told which tessera
 * this is (--tessera-exe), so a COMMAND that starts with 'tessera' runs this
 * same build. */
#include "cmd.h"

int cmd_scale(int argc, char **argv) {
    return app_run_python("scale", "tessera_scale.py", NULL, 1, "python3 python3-matplotlib", argc,
                          argv);
}
