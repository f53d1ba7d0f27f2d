/* Signals a process sends itself are not snapshot requests (issue 17):
 *   self_signal threads N  a SIGUSR1 handler counts deliveries; the main
 *                          thread sends N to another thread (pthread_kill,
 *                          as rustc and cargo do) and N to the process
 *                          (kill(getpid())), waiting for each; prints
 *                          "count=<2N>"
 *   self_signal raise      no handler: raise(SIGUSR1) kills the process,
 *                          as it does without the tracker
 *   self_signal wait       a handler; prints "ready", waits for one SIGUSR1
 *                          from outside and, traced, for the snapshot it
 *                          asked for (a snapshot asked for as the process
 *                          exits is not taken), prints "count=1"
 * Every mode leaks one 100-byte block (so its exit dump is not empty). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t count;
static volatile int stop;

static void on_usr1(int sig)
{
    (void)sig;
    count++;
}

static void *idle(void *arg)
{
    (void)arg;
    while (!stop)
        usleep(1000);
    return NULL;
}

static void wait_count(int want)
{
    for (int i = 0; count < want && i < 100000; i++)
        usleep(100);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "threads";
    volatile char *leak = malloc(100);
    leak[0] = 1;
    if (strcmp(mode, "raise") == 0) {
        raise(SIGUSR1);
        printf("survived\n");
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    if (strcmp(mode, "wait") == 0) {
        printf("ready\n");
        fflush(stdout);
        wait_count(1);
        const char *prefix = getenv("LEAKTRACE_OUT");
        if (prefix) {
            char path[4096];
            snprintf(path, sizeof path, "%s.%d.1.bin", prefix, (int)getpid());
            for (int i = 0; access(path, F_OK) != 0 && i < 100000; i++)
                usleep(100);
        }
        printf("count=%d\n", (int)count);
        return 0;
    }
    int n = argc > 2 ? atoi(argv[2]) : 20;
    /* The other thread must take the signals, not this one. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    for (int i = 0; i < n; i++) {
        pthread_kill(t, SIGUSR1);
        wait_count(i + 1);
    }
    for (int i = 0; i < n; i++) {
        kill(getpid(), SIGUSR1);
        wait_count(n + i + 1);
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("count=%d\n", (int)count);
    return 0;
}
