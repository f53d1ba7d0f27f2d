/* exit(3) called from a second thread while two others keep allocating.
 *   exiting_leak   512 in 1   (made by the exiting thread)
 * Exit status must stay 3. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "sample.h"

NOINLINE void exiting_leak(void) { void *p = malloc(512); USE(p); }

static void *spinner(void *arg)
{
    (void)arg;
    for (;;) {
        void *p = malloc(32);
        USE(p);
        free(p);
    }
    return NULL;
}

static void *exiter(void *arg)
{
    (void)arg;
    usleep(20000);
    exiting_leak();
    exit(3);
}

int main(void)
{
    pthread_t a, b, c;
    pthread_create(&a, NULL, spinner, NULL);
    pthread_create(&b, NULL, spinner, NULL);
    pthread_create(&c, NULL, exiter, NULL);
    pthread_join(c, NULL);
    return 0;
}
