/* Threads on the smallest stacks glibc allows, and many short-lived threads:
 *   on_small_stack   4 threads on 16 KiB stacks (PTHREAD_STACK_MIN), each
 *                    leaking 100 bytes: 400 bytes in 4 blocks
 *   short_lived      4,000 threads, one after another, each leaking 8 bytes:
 *                    32,000 bytes in 4,000 blocks
 * Prints how many small-stack threads started and how much the data
 * mappings (VmData) grew over the short-lived threads, in MiB: a tracker
 * whose per-thread room is too big for a small stack makes pthread_create
 * fail, and one that maps new room for every thread grows by ~100 MiB. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sample.h"

static void *kept[4];

NOINLINE void *on_small_stack(void *arg)
{
    void *p = malloc(100);
    USE(p);
    kept[(long)arg] = NULL; /* the only pointer is dropped: a leak */
    return NULL;
}

NOINLINE void *short_lived(void *arg)
{
    (void)arg;
    void *p = malloc(8);
    USE(p);
    return NULL;
}

static long vm_data_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmData:", 7) == 0)
            kib = atol(line + 7);
    if (f)
        fclose(f);
    return kib;
}

int main(void)
{
    pthread_attr_t small;
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, 16384);
    int started = 0;
    for (long i = 0; i < 4; i++) {
        pthread_t t;
        if (pthread_create(&t, &small, on_small_stack, (void *)i) == 0) {
            pthread_join(t, NULL);
            started++;
        }
    }
    printf("small-stack threads started: %d of 4\n", started);

    long before = vm_data_kib();
    for (int i = 0; i < 4000; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_lived, NULL) != 0)
            return 1;
        pthread_join(t, NULL);
    }
    long grown = (vm_data_kib() - before) / 1024;
    printf("VmData grew by %ld MiB\n", grown);
    return started == 4 ? 0 : 2;
}
