/* Allocations made on stacks other than the thread's own: a makecontext
 * coroutine running on a heap-allocated stack, and a signal handler running
 * on a sigaltstack (also from the heap). Both lie below the thread's stack
 * top, with the heap's other memory between; leaktrace must walk them
 * without reading outside them, and attribute the blocks to their callers.
 *   co_leak       43,210 bytes in 10 blocks (4321 each), called by co_body
 *   altstack_leak 777 bytes in 1 block, called by on_usr2
 *   no_unwind_info_malloc  999 bytes in 1 block: a function without unwind
 *                 information, called on the coroutine's stack with RBP
 *                 pointing into an inaccessible mapping (PROT_NONE, as
 *                 glibc's arena reserves are) between that stack and the
 *                 thread's; a walk bounded only by the thread's stack top
 *                 would follow it and fault. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include "sample.h"

/* malloc(size) with RBP set to `rbp`, in a function with no unwind
 * information (no CFI): unwinders fall back to the RBP chain there. */
void *no_unwind_info_malloc(size_t size, void *rbp);
__asm__(".text\n"
        ".globl no_unwind_info_malloc\n"
        ".type no_unwind_info_malloc, @function\n"
        "no_unwind_info_malloc:\n"
        "    push %rbp\n"
        "    push %rbx\n"
        "    mov %rsi, %rbp\n"
        "    sub $8, %rsp\n"
        "    call malloc@PLT\n"
        "    add $8, %rsp\n"
        "    pop %rbx\n"
        "    pop %rbp\n"
        "    ret\n"
        ".size no_unwind_info_malloc, .-no_unwind_info_malloc\n");

/* An address no one may read. */
static void *hole;

static ucontext_t main_ctx, co_ctx;

NOINLINE static void *co_leak(void)
{
    void *p = malloc(4321);
    USE(p);
    return p;
}

NOINLINE static void co_body(void)
{
    for (int i = 0; i < 10; i++) {
        co_leak();
        swapcontext(&co_ctx, &main_ctx);
    }
    void *p = no_unwind_info_malloc(999, hole);
    USE(p);
}

NOINLINE static void *altstack_leak(void)
{
    void *p = malloc(777);
    USE(p);
    return p;
}

NOINLINE static void on_usr2(int sig)
{
    (void)sig;
    void *p = altstack_leak();
    USE(p);
}

int main(void)
{
    size_t size = 256 * 1024;
    hole = (char *)mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) + (1 << 19);
    char *co_stack = malloc(size);
    getcontext(&co_ctx);
    co_ctx.uc_stack.ss_sp = co_stack;
    co_ctx.uc_stack.ss_size = size;
    co_ctx.uc_link = &main_ctx;
    makecontext(&co_ctx, co_body, 0);
    for (int i = 0; i < 11; i++)
        swapcontext(&main_ctx, &co_ctx);

    stack_t alt = {.ss_sp = malloc(size), .ss_size = size, .ss_flags = 0};
    sigaltstack(&alt, NULL);
    struct sigaction sa = {0};
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);

    free(co_stack);
    printf("done\n");
    return 0;
}
