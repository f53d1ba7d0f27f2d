/* Per-thread state of libleaktrace.
 *
 * It sits in static (initial-exec) TLS: reaching it is one fs-relative load,
 * it never calls __tls_get_addr (which may allocate, i.e. re-enter malloc),
 * and it has no destructor, so a thread that exits while glibc still calls
 * free() finds it intact. The layout must match ThreadState in guard.rs. */
#include <stdint.h>

#define LEAKTRACE_MAX_DEPTH 1024
#define LEAKTRACE_REMEMBERED 256

/* The thread's last stack, right-aligned (unwind/memo.rs). */
struct leaktrace_memo {
    uint32_t len;
    uint32_t id;
    uint64_t generation;
    uint64_t end_slot;
    uint64_t pc[LEAKTRACE_REMEMBERED];
    uint64_t sp[LEAKTRACE_REMEMBERED + 1];
    uint64_t bp[LEAKTRACE_REMEMBERED];
    uint64_t slot[LEAKTRACE_REMEMBERED];
    uint64_t saved[LEAKTRACE_REMEMBERED];
    uint64_t chain[LEAKTRACE_REMEMBERED];
};

/* Frames found by one walk (unwind/memo.rs). */
struct leaktrace_fresh {
    uint64_t pc[LEAKTRACE_MAX_DEPTH];
    uint64_t sp[LEAKTRACE_REMEMBERED];
    uint64_t bp[LEAKTRACE_REMEMBERED];
    uint64_t slot[LEAKTRACE_REMEMBERED];
};

struct leaktrace_thread {
    uint32_t busy;            /* non-zero while the thread is inside the library */
    uint32_t deferred_signal; /* a fatal signal that arrived while busy (signals.rs) */
    uint32_t stack_known;     /* stack_hi is valid */
    uint32_t deep;            /* the last walk was cut short (unwind/mod.rs) */
    uint64_t stack_hi;
    uint64_t stack_lo;       /* [stack_lo, stack_hi) known readable */
    uint64_t alt[4][2];      /* the last other stacks found readable */
    uint64_t alt_next;
    int64_t pending_bytes;   /* live-heap changes not yet published (stats.rs) */
    int64_t pending_blocks;
    int64_t seen_live_bytes; /* global figures when last published */
    int64_t seen_live_blocks;
    int64_t sample_left;     /* bytes until the next sampled allocation (sampler.rs) */
    uint64_t rng;            /* xorshift state, 0 until seeded */
    struct leaktrace_fresh fresh; /* scratch for one stack capture */
    struct leaktrace_memo memo;
};

/* Reached from Rust by an fs-relative load (guard.rs), hence global but
 * hidden: nothing outside the library sees it. */
__attribute__((visibility("hidden"), tls_model("initial-exec"))) __thread struct leaktrace_thread
    leaktrace_thread;

/* Checked against the Rust mirror by a unit test (guard.rs). */
__attribute__((visibility("hidden"))) const uint64_t leaktrace_thread_size = sizeof(struct leaktrace_thread);
