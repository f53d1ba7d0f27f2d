/* Every function of the malloc family leaks a known amount from a function
 * of its own; clean_* functions use the same calls and free everything.
 *
 * Expected leaks (bytes in blocks), asserted by tests/tests/core.rs:
 *   leak_malloc        100 in 1      leak_calloc          120 in 1 (10 x 12)
 *   leak_realloc_grow  300 in 1      leak_realloc_null     40 in 1
 *   leak_reallocarray   96 in 1      leak_posix_memalign  200 in 1
 *   leak_aligned_alloc 256 in 1      leak_memalign         64 in 1
 *   leak_valloc         10 in 1      leak_pvalloc        4096 in 1
 *   leak_malloc_zero     0 in 1      leak_many           1000 in 10 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include "sample.h"

NOINLINE void leak_malloc(void) { void *p = malloc(100); USE(p); }
NOINLINE void leak_calloc(void) { void *p = calloc(10, 12); USE(p); }
NOINLINE void leak_realloc_grow(void)
{
    void *p = malloc(10);
    USE(p);
    p = realloc(p, 300);
    USE(p);
}
NOINLINE void leak_realloc_null(void) { void *p = realloc(NULL, 40); USE(p); }
NOINLINE void leak_reallocarray(void) { void *p = reallocarray(NULL, 8, 12); USE(p); }
NOINLINE void leak_posix_memalign(void)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, 200) == 0)
        USE(p);
}
NOINLINE void leak_aligned_alloc(void) { void *p = aligned_alloc(128, 256); USE(p); }
NOINLINE void leak_memalign(void) { void *p = memalign(32, 64); USE(p); }
NOINLINE void leak_valloc(void) { void *p = valloc(10); USE(p); }
NOINLINE void leak_pvalloc(void) { void *p = pvalloc(100); USE(p); }
NOINLINE void leak_malloc_zero(void) { void *p = malloc(0); USE(p); }
NOINLINE void leak_many(void)
{
    for (int i = 0; i < 10; i++) {
        void *p = malloc(100);
        USE(p);
    }
}

/* Clean: everything allocated here is freed. */
NOINLINE void clean_everything(void)
{
    void *a = malloc(1000);
    USE(a);
    free(a);
    void *b = calloc(3, 50);
    USE(b);
    b = realloc(b, 5000);
    USE(b);
    free(b);
    void *c = malloc(77);
    USE(c);
    void *gone = realloc(c, 0); /* frees c, returns NULL in glibc */
    USE(gone);
    void *d = NULL;
    if (posix_memalign(&d, 256, 64) == 0)
        free(d);
    void *e = aligned_alloc(64, 128);
    USE(e);
    free(e);
    void *f = memalign(16, 16);
    USE(f);
    free(f);
    void *g = valloc(1);
    USE(g);
    free(g);
    void *h = pvalloc(1);
    USE(h);
    free(h);
    void *i = reallocarray(NULL, 4, 4);
    USE(i);
    i = reallocarray(i, 40, 4);
    USE(i);
    free(i);
    free(NULL);
    void *z = malloc(0);
    USE(z);
    free(z);
}

int main(void)
{
    clean_everything();
    leak_malloc();
    leak_calloc();
    leak_realloc_grow();
    leak_realloc_null();
    leak_reallocarray();
    leak_posix_memalign();
    leak_aligned_alloc();
    leak_memalign();
    leak_valloc();
    leak_pvalloc();
    leak_malloc_zero();
    leak_many();
    return 0;
}
