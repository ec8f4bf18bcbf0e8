/* par.h: OpenMP for the CPU references when built with -fopenmp, and
 * nothing otherwise (no unknown-pragma warnings under -Werror). */
#ifndef SKUGEN_GPU_PAR_H
#define SKUGEN_GPU_PAR_H

#ifdef _OPENMP
#define GPU_OMP(x) _Pragma(x)
#else
#define GPU_OMP(x)
#endif

#endif
