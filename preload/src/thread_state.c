/* Per-thread state of libleaktrace.
 *
 * It sits in static (initial-exec) TLS: reaching it is one fs-relative load,
 * it never calls __tls_get_addr (which may allocate, i.e. re-enter malloc),
 * and it has no destructor, so a thread that exits while glibc still calls
 * free() finds it intact. It is kept small (static TLS is carved out of
 * every thread's stack, and glibc refuses to start a thread whose stack is
 * too small for it): the capture's arrays live in a mapping of their own
 * (unwind/space.rs). The layout must match ThreadState in guard.rs. */
#include <stdint.h>

struct leaktrace_thread {
    uint32_t busy;            /* non-zero while the thread is inside the library */
    uint32_t deferred_signal; /* a fatal signal that arrived while busy (signals.rs) */
    uint32_t stack_known;     /* stack_hi is valid */
    uint32_t space_returns;   /* times the thread-exit destructor gave the space back */
    uint64_t stack_hi;
    uint64_t stack_lo;       /* [stack_lo, stack_hi) known readable */
    uint64_t alt[4][2];      /* the last other stacks found readable */
    uint64_t alt_next;
    int64_t pending_bytes;   /* live-heap changes not yet published (stats.rs) */
    int64_t pending_blocks;
    uint64_t bytes_limit;    /* when to publish them (stats.rs) */
    uint64_t blocks_limit;
    int64_t sample_left;     /* bytes until the next sampled allocation (sampler.rs) */
    uint64_t rng;            /* xorshift state, 0 until seeded */
    void *space;             /* the capture's scratch and memo, mapped (unwind/space.rs) */
    int *errno_slot;         /* __errno_location(), once asked for (guard.rs) */
};

/* Reached from Rust by an fs-relative load (guard.rs), hence global but
 * hidden: nothing outside the library sees it. */
__attribute__((visibility("hidden"), tls_model("initial-exec"))) __thread struct leaktrace_thread
    leaktrace_thread;

/* Checked against the Rust mirror by a unit test (guard.rs). */
__attribute__((visibility("hidden"))) const uint64_t leaktrace_thread_size = sizeof(struct leaktrace_thread);
