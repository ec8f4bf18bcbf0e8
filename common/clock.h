/* clock.h: elapsed time for timeouts and rates (never the wall clock, which
 * can jump). */
#ifndef SKUGEN_CLOCK_H
#define SKUGEN_CLOCK_H

/* Seconds on CLOCK_MONOTONIC: only differences mean anything. */
double clock_mono_s(void);

#endif
