/* Tessera: a distributed, asynchronous array runtime on MPI. */
#ifndef TESSERA_H
#define TESSERA_H

#include "tessera/version.h"
#include "tessera/base.h"
#include "tessera/sched.h"
#include "tessera/future.h"
#include "tessera/am.h"
#include "tessera/runtime.h"
#include "tessera/array.h"
#include "tessera/lang.h"
#include "tessera/perf.h"

#endif
