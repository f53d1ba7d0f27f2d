/* Helpers shared by the samples.
 *
 * NOINLINE keeps each leaking function a frame of its own, and USE() hides a
 * pointer from the optimizer: without it gcc deletes free(malloc(n)) pairs
 * and turns `return strdup(s)` into a tail call, and the sample would then
 * test nothing. */
#ifndef LEAKTRACE_SAMPLE_H
#define LEAKTRACE_SAMPLE_H

#define NOINLINE __attribute__((noinline, noclone))
#define USE(p) __asm__ volatile("" : : "r"(p) : "memory")

#endif
