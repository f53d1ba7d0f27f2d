/* Four threads each do 1,000,000 malloc/free pairs of 16-400 bytes over a live
 * set of 1,000 blocks, then free everything; main then leaks 10 blocks of
 * 48 bytes in final_leak(). Used with snapshots every few milliseconds. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "sample.h"

#define LIVE 1000
#define OPS 1000000

static void *worker(void *arg)
{
    uint64_t s = (uintptr_t)arg * 2654435761u + 1;
    void *live[LIVE] = {0};
    for (int i = 0; i < OPS; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int k = (int)(s % LIVE);
        free(live[k]);
        live[k] = malloc(16 + s % 385);
        USE(live[k]);
    }
    for (int k = 0; k < LIVE; k++)
        free(live[k]);
    return NULL;
}

NOINLINE static void final_leak(void)
{
    for (int i = 0; i < 10; i++) {
        void *p = malloc(48);
        USE(p);
    }
}

int main(void)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    final_leak();
    printf("done\n");
    return 0;
}
