/* Forks 20 children while another thread keeps allocating (so a fork can
 * land while the tracker is busy): no child may deadlock, and each process
 * leaves its own dump.
 *   parent: parent_leak 11 in 1      each child: child_leak 22 in 1 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sample.h"

NOINLINE void parent_leak(void) { void *p = malloc(11); USE(p); }
NOINLINE void child_leak(void) { void *p = malloc(22); USE(p); }

static void *churn(void *arg)
{
    (void)arg;
    for (;;) {
        void *p = malloc(64);
        USE(p);
        free(p);
    }
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, churn, NULL);
    for (int i = 0; i < 20; i++) {
        pid_t child = fork();
        if (child == 0) {
            child_leak();
            exit(0);
        }
        int status;
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 1;
    }
    parent_leak();
    return 0;
}
