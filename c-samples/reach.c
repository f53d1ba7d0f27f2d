/* Every way a block can be held, or lost, at exit (leaktrace's reachability
 * classification, compared with valgrind's in the tests). With "wait" it
 * then waits until its standard input closes, so that a test can take a
 * snapshot while every block is held as it will be at the exit.
 *   reach PLUGIN.so [wait]
 * Each function below allocates a block of a distinct size and says, at its
 * top, the kind it must get. A thread holding a block on its stack and one
 * holding a block only in a register are still running when main exits. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sample.h"

void *global_ptr;          /* reachable */
static void *file_static;  /* reachable */
static __thread void *tls_ptr; /* reachable: static TLS of the main thread */
char *middle;              /* possible: points into its block */

/* 101 bytes, reachable: a global points to it. */
NOINLINE void held_by_global(void) { global_ptr = malloc(101); }

/* 102 bytes, reachable: a file-static pointer. */
NOINLINE void held_by_static(void) { file_static = malloc(102); USE(&file_static); }

/* 103 bytes, reachable: a function-static pointer. */
NOINLINE void held_by_function_static(void)
{
    static void *kept;
    kept = malloc(103);
    USE(&kept);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int threads_ready;

static void ready(void)
{
    pthread_mutex_lock(&lock);
    threads_ready++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* 104 bytes, reachable: only the thread's stack points to it. */
NOINLINE static void *held_on_thread_stack(void *arg)
{
    (void)arg;
    void *volatile on_stack = malloc(104);
    ready();
    for (;;)
        __asm__ volatile("pause" ::: "memory");
    return on_stack;
}

/* 105 bytes, reachable: only a register of a spinning thread holds it. */
NOINLINE static void *held_in_register(void *arg)
{
    (void)arg;
    void *p = malloc(105);
    ready();
    __asm__ volatile("mov %0, %%r15\n"
                     "1: pause\n"
                     "jmp 1b\n"
                     :
                     : "r"(p)
                     : "r15", "memory");
    return NULL;
}

/* 106 bytes, reachable: static TLS. */
NOINLINE void held_by_static_tls(void) { tls_ptr = malloc(106); USE(&tls_ptr); }

/* 108 bytes, reachable: a pthread key's value. */
NOINLINE void held_by_pthread_key(void)
{
    static pthread_key_t key;
    pthread_key_create(&key, NULL);
    pthread_setspecific(key, malloc(108));
}

/* 109 bytes, possible: only a pointer into its middle remains. */
NOINLINE void held_by_interior_pointer(void) { middle = (char *)malloc(109) + 50; }

struct parent {
    void *child;
};

/* 110 bytes, indirect: only a lost block points to it. (USE keeps the
 * call from becoming a tail call, so this frame is on the stack.) */
NOINLINE void *lost_child(void)
{
    void *p = malloc(110);
    USE(p);
    return p;
}

/* 16 bytes, definite: lost, holding the only pointer to lost_child's. */
NOINLINE void lost_parent(void)
{
    struct parent *p = malloc(sizeof *p);
    p->child = lost_child();
    USE(p);
}

struct node {
    struct node *next;
    char pad[112];
};

/* Two 120-byte nodes pointing to each other, lost: one definite, one
 * indirect. */
NOINLINE struct node *cycle_node(void)
{
    struct node *n = malloc(sizeof(struct node));
    USE(n);
    return n;
}

NOINLINE void lost_cycle(void)
{
    struct node *a = cycle_node(), *b = cycle_node();
    a->next = b;
    b->next = a;
    USE(a);
}

/* 111 bytes, definite: its address survives only in this dead frame. */
NOINLINE void dead_stack(void)
{
    void *volatile slot[4];
    slot[0] = malloc(111);
    USE(slot);
}

/* Overwrites the dead frames below main's, where dead_stack's and the
 * allocator's copies of addresses lie, before the wait: a snapshot scans the
 * waiting frames, which may not overwrite them. */
NOINLINE static void scrub_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof junk);
    USE(junk);
}

int main(int argc, char **argv)
{
    held_by_global();
    held_by_static();
    held_by_function_static();
    held_by_static_tls();
    held_by_pthread_key();
    held_by_interior_pointer();
    lost_parent();
    lost_cycle();
    dead_stack();
    if (argc > 1) {
        void *h = dlopen(argv[1], RTLD_NOW);
        if (!h) {
            fprintf(stderr, "%s\n", dlerror());
            return 1;
        }
        void *(*hold)(void) = (void *(*)(void))dlsym(h, "tls_plugin_hold");
        hold();
    }
    pthread_t t1, t2;
    pthread_create(&t1, NULL, held_on_thread_stack, NULL);
    pthread_create(&t2, NULL, held_in_register, NULL);
    pthread_mutex_lock(&lock);
    while (threads_ready < 2)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    printf("reach: done\n");
    if (argc > 2 && !strcmp(argv[2], "wait")) {
        fflush(stdout);
        scrub_stack();
        while (getchar() != EOF)
            ;
    }
    return 0;
}
