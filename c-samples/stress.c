/* Stress for the tracker (tests/tests/stress.rs); every mode ends with
 * exit 0 and a line on stdout, and leaks exactly what it says.
 *   stress churn THREADS OPS [K] THREADS threads each do OPS malloc/free
 *                              pairs of 16-400 bytes over a live set of
 *                              500 blocks, then free all; no leak. With K,
 *                              they churn until snapshot K exists
 *                              ($LEAKTRACE_OUT.<pid>.K.bin), however slow
 *                              the machine.
 *   stress forks               6 threads allocate while the main thread
 *                              forks 30 children; each child leaks 22
 *                              bytes in child_leak() and exits.
 *   stress dlopen PLUGIN.so    200 times: dlopen, call plugin_entry (a
 *                              333-byte leak in plugin_leak), dlclose,
 *                              while 2 threads allocate.
 *   stress signals             4 threads allocate while the main thread
 *                              sends each 2,000 SIGUSR2 (a handler of the
 *                              program's, counting) and has a vfork()ed
 *                              child send each 200 SIGUSR1 (the snapshot
 *                              signal, which must come from another
 *                              process), landing mid-malloc, and waits for
 *                              the first snapshot. */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sample.h"

static atomic_int stop;
static atomic_int handled;

static void *churn(void *arg)
{
    long ops = (long)arg;
    uint64_t s = (uintptr_t)&ops;
    void *live[500] = {0};
    for (long i = 0; ops < 0 ? !atomic_load(&stop) : i < ops; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int k = (int)(s % 500);
        free(live[k]);
        live[k] = malloc(16 + s % 385);
        USE(live[k]);
    }
    for (int k = 0; k < 500; k++)
        free(live[k]);
    return NULL;
}

static void start(pthread_t *t, int n, long ops)
{
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, churn, (void *)ops);
}

static void join(pthread_t *t, int n)
{
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

NOINLINE static void child_leak(void)
{
    void *p = malloc(22);
    USE(p);
}

static void on_usr2(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

/* A thread's kernel id, published once it runs. */
static atomic_int tids[4];

static void *churn_tid(void *arg)
{
    atomic_store(&tids[(long)arg], (int)syscall(SYS_gettid));
    return churn((void *)-1L);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "churn";
    if (strcmp(mode, "churn") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 16;
        long ops = argc > 3 ? atol(argv[3]) : 200000;
        const char *prefix = getenv("LEAKTRACE_OUT");
        pthread_t t[64];
        if (argc > 4 && prefix) {
            char path[4096];
            snprintf(path, sizeof path, "%s.%d.%s.bin", prefix, (int)getpid(), argv[4]);
            start(t, n, -1);
            while (access(path, F_OK) != 0)
                usleep(1000);
            join(t, n);
        } else {
            start(t, n, ops);
            for (int i = 0; i < n; i++)
                pthread_join(t[i], NULL);
        }
        printf("churned\n");
    } else if (strcmp(mode, "forks") == 0) {
        pthread_t t[6];
        start(t, 6, -1);
        int ok = 0;
        for (int i = 0; i < 30; i++) {
            pid_t c = fork();
            if (c == 0) {
                child_leak();
                exit(0);
            }
            int st;
            if (waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0)
                ok++;
        }
        join(t, 6);
        printf("%d children ok\n", ok);
    } else if (strcmp(mode, "dlopen") == 0) {
        pthread_t t[2];
        start(t, 2, -1);
        int ok = 0;
        for (int i = 0; i < 200; i++) {
            void *h = dlopen(argv[2], RTLD_NOW);
            if (!h)
                break;
            void (*entry)(void) = (void (*)(void))dlsym(h, "plugin_entry");
            entry();
            ok += dlclose(h) == 0;
        }
        join(t, 2);
        printf("%d loads ok\n", ok);
    } else if (strcmp(mode, "signals") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr2;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGUSR2, &sa, NULL);
        pthread_t t[4];
        for (long i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, churn_tid, (void *)i);
        for (int i = 0; i < 4; i++)
            while (!atomic_load(&tids[i]))
                ;
        for (int round = 0; round < 2000; round++) {
            for (int i = 0; i < 4; i++) {
                syscall(SYS_tgkill, getpid(), atomic_load(&tids[i]), SIGUSR2);
                if (round % 10 == 0) {
                    pid_t self = getpid(), c = vfork();
                    if (c == 0) {
                        syscall(SYS_tgkill, self, atomic_load(&tids[i]), SIGUSR1);
                        _exit(0);
                    }
                    waitpid(c, NULL, 0);
                }
            }
            if (round % 100 == 0)
                usleep(1000);
        }
        /* Signals to one thread coalesce: some of the 8,000 are merged. */
        while (atomic_load(&handled) == 0)
            ;
        /* The snapshot signals asked for at least one snapshot: let it be
         * written while the threads still run, however slow the machine. */
        const char *prefix = getenv("LEAKTRACE_OUT");
        if (prefix) {
            char path[4096];
            snprintf(path, sizeof path, "%s.%d.1.bin", prefix, (int)getpid());
            while (access(path, F_OK) != 0)
                usleep(1000);
        }
        join(t, 4);
        printf("signals handled\n");
    }
    return 0;
}
