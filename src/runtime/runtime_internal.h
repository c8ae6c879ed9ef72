/* Runtime hooks for layers above the message engine. */
#ifndef TSR_RUNTIME_INTERNAL_H
#define TSR_RUNTIME_INTERNAL_H

/* fn runs in tsr_finalize after the final fence and before the engine and
 * scheduler stop, in reverse order of registration, on every rank. Layers
 * register from collective calls so the order is the same everywhere. */
int tsr__runtime_at_finalize(void (*fn)(void));

#endif
