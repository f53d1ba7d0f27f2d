/* A process that grows two ways: every round lose() drops ten 100-byte
 * blocks (a lost pointer) and remember() keeps ten 200-byte blocks in a
 * global cache that is never trimmed (an unbounded cache, still
 * reachable). The cache grows faster, but with classified snapshots
 * (LEAKTRACE_CLASSIFY=1, LEAKTRACE_INTERVAL) the lost growth ranks first.
 * Runs ROUNDS rounds 100 ms apart, then exits with the cache still held.
 * (tests/tests/owners.rs) */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sample.h"

#define ROUNDS 12

static void *cache[ROUNDS * 10];
static int cached;

NOINLINE static void lose(void)
{
    for (int i = 0; i < 10; i++) {
        void *p = malloc(100);
        memset(p, 0, 100);
        USE(p);
    }
}

NOINLINE static void remember(void)
{
    for (int i = 0; i < 10; i++) {
        cache[cached] = malloc(200);
        memset(cache[cached], 0, 200);
        cached++;
    }
}

int main(void)
{
    struct timespec pause = {0, 100 * 1000 * 1000};
    for (int round = 0; round < ROUNDS; round++) {
        lose();
        remember();
        nanosleep(&pause, NULL);
    }
    USE(cache);
    return 0;
}
