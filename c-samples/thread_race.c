/* The only pointer to a block is handed to a detached thread through
 * pthread_create's argument, and main exits at once: at the exit the thread
 * may not have started yet, and the block is not lost (valgrind: not
 * definitely lost; LLVM's leak_check_before_thread_started test).
 *   race_block     1337 in 1   never definite */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sample.h"

static void *owner(void *arg)
{
    sleep(1);
    free(arg);
    return NULL;
}

NOINLINE void *race_block(void)
{
    void *p = malloc(1337);
    memset(p, 0, 1337);
    USE(p);
    return p;
}

NOINLINE void start_owner(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, owner, race_block()))
        abort();
    pthread_attr_destroy(&attr);
}

int main(void)
{
    start_owner();
    exit(0);
}
