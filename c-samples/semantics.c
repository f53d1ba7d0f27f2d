/* Prints what each malloc-family call returns in its edge cases, and errno.
 * The output must be the same with and without the tracker. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "sample.h"

static void show(const char *what, const void *p, int err)
{
    printf("%-36s %s errno=%d\n", what, p ? "ptr" : "NULL", err);
}

/* volatile: the compiler must not reason about these sizes. */
static volatile size_t huge = SIZE_MAX - 4096;
static volatile size_t half = SIZE_MAX / 2;
static volatile size_t almost_max = SIZE_MAX - 10;

int main(void)
{
    void *p;
    int r;

    errno = 0; p = malloc(huge); show("malloc(huge)", p, errno);
    errno = 0; p = calloc(half, 4); show("calloc(overflow)", p, errno);
    errno = 0; p = reallocarray(NULL, half, 4); show("reallocarray(overflow)", p, errno);
    errno = 0; p = aligned_alloc(3, 64); show("aligned_alloc(bad alignment)", p, errno);
    free(p);
    errno = 0; p = memalign(3, 64); show("memalign(align 3)", p, errno);
    free(p);
    errno = 0; p = pvalloc(almost_max); show("pvalloc(overflow)", p, errno);
    errno = 0; p = valloc(almost_max); show("valloc(huge)", p, errno);

    errno = 0; p = NULL; r = posix_memalign(&p, 3, 64);
    printf("%-36s r=%d %s errno=%d\n", "posix_memalign(bad alignment)", r, p ? "ptr" : "NULL", errno);
    errno = 0; p = NULL; r = posix_memalign(&p, 64, huge);
    printf("%-36s r=%d %s errno=%d\n", "posix_memalign(huge)", r, p ? "ptr" : "NULL", errno);

    errno = 0; p = malloc(0); show("malloc(0)", p, errno);
    printf("%-36s %d\n", "malloc_usable_size(malloc(0)) > 0", malloc_usable_size(p) > 0);
    free(p);
    errno = 0; p = realloc(NULL, 16); show("realloc(NULL, 16)", p, errno);
    errno = 0; p = realloc(p, 0); show("realloc(p, 0)", p, errno);
    p = malloc(16);
    USE(p);
    errno = 0; void *q = realloc(p, huge); show("realloc(p, huge)", q, errno);
    free(p);

    /* errno set by the program survives a malloc/free pair. */
    errno = 1234; p = malloc(32); USE(p); free(p);
    printf("%-36s errno=%d\n", "errno kept across malloc+free", errno);
    errno = 0; free(NULL); printf("%-36s errno=%d\n", "free(NULL)", errno);
    return 7;
}
