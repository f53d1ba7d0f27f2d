//! Sampling by bytes, as jemalloc and tcmalloc profile: each thread counts
//! down the bytes it allocates, and the allocation that crosses zero is
//! recorded; the next countdown is drawn from an exponential distribution of
//! mean `LEAKTRACE_SAMPLE`. An allocation of `size` bytes is thus recorded
//! with probability `1 - exp(-size / mean)` however the program sizes its
//! requests, and `leakreport` scales each recorded block by the inverse.

use crate::guard::ThreadState;

/// Whether this allocation of `size` bytes is to be recorded. Inlined into
/// every hook: an allocation passed over costs a comparison, a subtraction
/// and a branch. The countdown is always at least 1 between calls.
#[inline(always)]
pub fn take(state: &mut ThreadState, size: usize, mean: u64) -> bool {
    let left = state.sample_left as u64;
    if (size as u64) < left {
        state.sample_left = (left - size as u64) as i64;
        return false;
    }
    crossed(state, size, mean)
}

/// The countdown crossed zero: the allocation is recorded. Draws countdowns
/// until the remainder is positive again (a block many times the mean
/// crosses several). Out of line, so that the hooks' common path saves no
/// registers for it.
#[cold]
#[inline(never)]
fn crossed(state: &mut ThreadState, size: usize, mean: u64) -> bool {
    let size = size.min(i64::MAX as usize) as i64;
    state.sample_left = state.sample_left.saturating_sub(size);
    while state.sample_left <= 0 {
        state.sample_left = state
            .sample_left
            .saturating_add(next_countdown(state, mean));
    }
    true
}

/// A draw from the exponential distribution of mean `mean`, at least 1.
fn next_countdown(state: &mut ThreadState, mean: u64) -> i64 {
    if state.rng == 0 {
        // Seed per thread from the clock and the thread's own address.
        state.rng =
            (crate::sys::monotonic_ns() ^ (state as *mut ThreadState as u64).rotate_left(32)) | 1;
    }
    let mut x = state.rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.rng = x;
    // Uniform in (0, 1]: never 0, so the logarithm is finite.
    let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let draw = -u.ln() * mean as f64;
    (draw as i64).max(1)
}
