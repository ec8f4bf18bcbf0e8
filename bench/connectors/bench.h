/* bench.h: the parts of bench/connectors, each in its own file, run in turn
 * by main.c.  Each prints its measures as lines
 *     measure: value (goal: ...) met|missed
 * and returns 0, or -1 when it could not measure at all. */
#ifndef SKUGEN_BENCH_CONNECTORS_H
#define SKUGEN_BENCH_CONNECTORS_H

/* Akeneo: products per second pulled from the fake with 20 ms latency per
 * page, against the bound set by 4 requests in flight (akeneo.c). */
int bench_akeneo(void);

#endif
