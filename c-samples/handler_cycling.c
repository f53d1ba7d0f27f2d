/* One thread raises SIGUSR1 at itself in a loop while the main thread
 * switches the signal's disposition between a handler and SIG_IGN, as
 * CPython's test_stress_modifying_handlers does. Natively the process never
 * sees the default action (it never sets it) and exits 0; the tracker must
 * decide each delivery on one reading of the disposition, never on a mix.
 * Prints "ok" and whether the handler ran. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int stop;
static atomic_long received;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&received, 1);
}

static void *raiser(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        raise(SIGUSR1);
    return NULL;
}

int main(void)
{
    struct sigaction handler, ignore;
    memset(&handler, 0, sizeof handler);
    memset(&ignore, 0, sizeof ignore);
    handler.sa_handler = on_usr1;
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &handler, NULL);
    pthread_t t;
    pthread_create(&t, NULL, raiser, NULL);
    for (int i = 0; i < 200000; i++) {
        sigaction(SIGUSR1, &handler, NULL);
        sigaction(SIGUSR1, &ignore, NULL);
    }
    sigaction(SIGUSR1, &handler, NULL);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("ok handled=%s\n", atomic_load(&received) > 0 ? "yes" : "no");
    return 0;
}
