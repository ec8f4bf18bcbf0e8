/* refs.h: gpu/'s CPU references timed against libvips (refs.c). */
#ifndef SKUGEN_BENCH_IMAGES_REFS_H
#define SKUGEN_BENCH_IMAGES_REFS_H

#include <vips/vips.h>

/* Time each pixel step both ways on shot (a 3000 x 3000 RGB memory image);
 * write up to max verdict lines; returns how many. */
int refs_measure(VipsImage *shot, char lines[][256], int max);

#endif
