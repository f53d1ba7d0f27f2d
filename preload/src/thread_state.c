/* Per-thread state of libleaktrace.
 *
 * It sits in static (initial-exec) TLS: reaching it is one fs-relative load,
 * it never calls __tls_get_addr (which may allocate, i.e. re-enter malloc),
 * and it has no destructor, so a thread that exits while glibc still calls
 * free() finds it intact. The layout must match ThreadState in guard.rs. */
#include <stdint.h>

#define LEAKTRACE_MAX_DEPTH 1024

struct leaktrace_thread {
    uint32_t busy;        /* non-zero while the thread is inside the library */
    uint32_t stack_known; /* stack_lo/stack_hi are valid */
    uint64_t stack_lo;
    uint64_t stack_hi;
    uint64_t frames[LEAKTRACE_MAX_DEPTH + 8]; /* scratch for one stack capture */
};

static __thread struct leaktrace_thread state __attribute__((tls_model("initial-exec")));

__attribute__((visibility("hidden"))) struct leaktrace_thread *leaktrace_thread_state(void)
{
    return &state;
}
