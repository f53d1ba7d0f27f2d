/* A program's own pool: it mmaps an anonymous region and keeps there the
 * only pointers to some malloc'd blocks; every other copy is cleared. The
 * blocks are in use (valgrind: still reachable, as it scans every mapping
 * the program made); beside them, blocks nothing points to are lost.
 *   pool_hold       6 x 136 = 816 in 6   reachable: only the pool points to them
 *   pool_child        6 x 72 = 432 in 6  reachable: only pool_hold's blocks do
 *   pool_dropped            152 in 1     definite: its slot in the pool is cleared
 *   pool_unmapped     4 x 168 = 672 in 4 definite: held by a region unmapped */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "sample.h"

#define SLOTS 512

struct held {
    void *child;
    char pad[128];
};

NOINLINE void *pool_child(void)
{
    void *p = malloc(72);
    memset(p, 0, 72);
    USE(p);
    return p;
}

/* Stores a fresh block's address in *slot only; returns nothing. */
NOINLINE void pool_hold(void *volatile *slot)
{
    struct held *h = malloc(sizeof *h);
    memset(h, 0, sizeof *h);
    h->child = pool_child();
    *slot = h;
    h = NULL;
    USE(h);
}

NOINLINE void pool_dropped(void *volatile *slot)
{
    void *p = malloc(152);
    memset(p, 0, 152);
    *slot = p;
    USE(p);
    *slot = NULL;
}

NOINLINE void pool_unmapped(void *volatile *slot)
{
    void *p = malloc(168);
    memset(p, 0, 168);
    *slot = p;
}

static void *volatile *map_region(void)
{
    void *r = mmap(NULL, SLOTS * sizeof(void *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return (void *volatile *)r;
}

/* Overwrites the dead frames the calls above left below main's. */
NOINLINE static void scrub_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof junk);
    USE(junk);
}

/* The region's address is kept in a global (a root), as a pool's is. */
void *volatile *pool;

int main(void)
{
    pool = map_region();
    for (int i = 0; i < 6; i++)
        pool_hold(&pool[7 + 13 * i]);
    pool_dropped(&pool[300]);
    void *volatile *gone = map_region();
    for (int i = 0; i < 4; i++)
        pool_unmapped(&gone[5 * i]);
    munmap((void *)gone, SLOTS * sizeof(void *));
    gone = NULL;
    scrub_stack();
    printf("pool: done\n");
    return 0;
}
