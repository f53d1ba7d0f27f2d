/* Four threads each leak 25 blocks of 64 bytes from thread_leak() and churn
 * through clean allocations; main joins them and leaks 8 bytes itself.
 *   thread_leak   6400 in 100
 *   main_leak        8 in 1 */
#include <pthread.h>
#include <stdlib.h>
#include "sample.h"

NOINLINE void thread_leak(void) { void *p = malloc(64); USE(p); }

NOINLINE void churn(void)
{
    for (int i = 0; i < 20000; i++) {
        void *p = malloc(16 + i % 200);
        USE(p);
        free(p);
    }
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 25; i++) {
        thread_leak();
        churn();
    }
    return NULL;
}

NOINLINE void main_leak(void) { void *p = malloc(8); USE(p); }

int main(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    main_leak();
    return 0;
}
