/* A server that never exits and leaks more the longer it runs: every 5 ms
 * grow_leak() keeps another 64-byte block, and steady_cache() holds one
 * 4096-byte block from the start. Prints "ready" once running. Runs until
 * killed (it has no handler for SIGTERM, SIGINT or SIGHUP). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sample.h"

static void *cache;

NOINLINE static void steady_cache(void)
{
    cache = malloc(4096);
    USE(cache);
}

NOINLINE static void grow_leak(void)
{
    void *p = malloc(64);
    memset(p, 1, 64);
    USE(p);
}

NOINLINE static void churn(void)
{
    void *p = malloc(200);
    USE(p);
    free(p);
}

int main(void)
{
    steady_cache();
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        grow_leak();
        churn();
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL); /* EINTR from a snapshot signal is fine here */
    }
}
