/* Blocks nothing points to, in the ways real programs lose them; every one
 * is definitely lost (valgrind says so: leaktrace's kinds are compared with
 * valgrind's in tests/tests/reach.rs). Their bytes are left as malloc
 * gives them: what an allocator leaves in a block must not make it look
 * pointed to.
 *   lost [PATTERN...]   PATTERN: malloc0 threads running growing (all when
 *                       none is given), so each can be run on its own.
 *   leak_malloc0             0 in 1    a single malloc(0), its address dropped
 *   leak_24_in_thread       480 in 20  a fresh thread leaking in a loop,
 *   leak_30_in_thread       600 in 20  storing no pointer anywhere, beside
 *   leak_40_in_thread       800 in 20  two sibling threads doing the same
 *   leak_before_running      448 in 8  by a thread still running at exit,
 *                                      its stack no longer pointing to them
 *   leak_while_growing    8,800 in 100 one block every iteration of a loop
 *                                      that frees the others it allocates */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sample.h"

NOINLINE void leak_malloc0(void)
{
    void *p = malloc(0);
    USE(p);
}

NOINLINE void leak_24_in_thread(void) { void *p = malloc(24); USE(p); }
NOINLINE void leak_30_in_thread(void) { void *p = malloc(30); USE(p); }
NOINLINE void leak_40_in_thread(void) { void *p = malloc(40); USE(p); }

static void *leak_in_thread(void *arg)
{
    void (*leak)(void) = (void (*)(void))arg;
    for (int i = 0; i < 20; i++)
        leak();
    return NULL;
}

NOINLINE void threads(void)
{
    void (*leaks[3])(void) = {leak_24_in_thread, leak_30_in_thread, leak_40_in_thread};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, leak_in_thread, (void *)leaks[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int leaked;

NOINLINE void leak_before_running(void)
{
    for (int i = 0; i < 8; i++) {
        void *p = malloc(56);
        USE(p);
    }
}

/* Overwrites the dead frames below this one, where the allocator may have
 * left copies of the addresses. */
NOINLINE static void scrub_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof junk);
    USE(junk);
}

/* Leaks, says so, and then waits for ever: still running when main exits. */
static void *running(void *arg)
{
    (void)arg;
    leak_before_running();
    scrub_stack();
    pthread_mutex_lock(&lock);
    leaked = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (;;)
        pause();
    return NULL;
}

NOINLINE void running_thread(void)
{
    pthread_t t;
    pthread_create(&t, NULL, running, NULL);
    pthread_mutex_lock(&lock);
    while (!leaked)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

/* 88 bytes kept every iteration, among blocks of other sizes freed. (A
 * freed block that held pointers to kept ones, reused for the next kept
 * one, would make them indirect: valgrind calls them definite, since it
 * knows those bytes were never written since the malloc; see
 * docs/design.md.) */
NOINLINE void *leak_while_growing(void)
{
    void *p = malloc(88);
    USE(p);
    return p;
}

NOINLINE void growing(void)
{
    for (int i = 0; i < 100; i++) {
        void *a = malloc(48 + i % 7);
        void *b = malloc(200 + i);
        USE(a);
        USE(b);
        void *kept = leak_while_growing();
        USE(kept);
        void *c = malloc(1000 + 8 * i);
        USE(c);
        free(b);
        free(a);
        free(c);
    }
}

static int wanted(int argc, char **argv, const char *name)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (wanted(argc, argv, "malloc0"))
        leak_malloc0();
    if (wanted(argc, argv, "threads"))
        threads();
    if (wanted(argc, argv, "running"))
        running_thread();
    if (wanted(argc, argv, "growing"))
        growing();
    return 0;
}
