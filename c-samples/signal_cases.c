/* How a program's own signal handling fares under leaktrace. SIGUSR1 is
 * sent from another process (a vfork()ed child: a signal the process sends
 * itself is no snapshot request, see self_signal.c).
 *   signal_cases sigaction  installs a SIGUSR1 handler with sigaction, is
 *                           sent SIGUSR1 twice; the handler must run both
 *                           times and sigaction must report the program's own
 *                           action.
 *   signal_cases signal     the same with signal().
 *   signal_cases blocked    blocks SIGUSR1, is sent it: still pending for the
 *                           program natively; a snapshot under leaktrace.
 *   signal_cases handled_blocked
 *                           a SIGUSR1 handler of its own, SIGUSR1 blocked and
 *                           sent: it must stay pending (its handler not run)
 *                           until unblocked, and run there and then, as
 *                           natively. On stderr, under leaktrace: whether the
 *                           snapshot was written before the unblock (it must
 *                           not be: the signal is the program's until then).
 *   signal_cases term       a SIGTERM handler of its own that exits with 3.
 * Each mode leaks 77 bytes in held_leak() first and prints what it saw; it
 * then waits 300 ms so that a requested snapshot has time to be written. */
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sample.h"

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

static void on_term(int sig)
{
    (void)sig;
    _exit(3);
}

NOINLINE static void held_leak(void)
{
    void *p = malloc(77);
    USE(p);
}

/* Whether leaktrace wrote this process's first snapshot already. */
static int snapshot_written(void)
{
    const char *prefix = getenv("LEAKTRACE_OUT");
    char path[4096];
    snprintf(path, sizeof path, "%s.%d.1.bin", prefix ? prefix : "leaktrace", (int)getpid());
    return access(path, F_OK) == 0;
}

static void pause_a_little(void)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Sends `sig` to this process from a vfork()ed child, which writes no
 * dump of its own, and waits for the child. */
static void send_from_outside(int sig)
{
    pid_t parent = getpid();
    pid_t c = vfork();
    if (c == 0) {
        kill(parent, sig);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "sigaction";
    held_leak();
    if (strcmp(mode, "sigaction") == 0 || strcmp(mode, "signal") == 0) {
        if (mode[3] == 'a') {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_usr1;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGUSR1, &sa, NULL);
        } else {
            signal(SIGUSR1, on_usr1);
        }
        send_from_outside(SIGUSR1);
        send_from_outside(SIGUSR1);
        struct sigaction now;
        sigaction(SIGUSR1, NULL, &now);
        printf("handler ran %d times; the action is the program's: %s\n", (int)handled,
               now.sa_handler == on_usr1 ? "yes" : "no");
    } else if (strcmp(mode, "blocked") == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        send_from_outside(SIGUSR1);
        printf("blocked and sent\n");
    } else if (strcmp(mode, "handled_blocked") == 0) {
        signal(SIGUSR1, on_usr1);
        sigset_t set, pending;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        send_from_outside(SIGUSR1);
        pause_a_little();
        sigpending(&pending);
        int before = handled, written = snapshot_written();
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        printf("pending: %s; handled before unblock: %d, at unblock: %d\n",
               sigismember(&pending, SIGUSR1) ? "yes" : "no", before, (int)handled);
        if (getenv("LEAKTRACE_OUT"))
            fprintf(stderr, "snapshot before unblock: %s\n", written ? "yes" : "no");
    } else if (strcmp(mode, "term") == 0) {
        signal(SIGTERM, on_term);
        printf("terminating\n");
        fflush(stdout);
        kill(getpid(), SIGTERM);
        pause_a_little();
        return 0;
    }
    fflush(stdout);
    pause_a_little();
    return 0;
}
