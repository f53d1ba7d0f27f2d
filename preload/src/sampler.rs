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
    let draw = -ln(u) * mean as f64;
    (draw as i64).max(1)
}

/// The natural logarithm of `x` in (0, 1], to about 1e-12: computed here
/// so that the library does not load libm (`f64::ln` is libm's `log`), one
/// shared object less to load in every traced process.
fn ln(x: f64) -> f64 {
    // x = m * 2^e with m in [1, 2); ln m = 2 atanh(z), z = (m-1)/(m+1) <= 1/3.
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    for k in 0..14 {
        sum += term / f64::from(2 * k + 1);
        term *= z2;
    }
    e as f64 * core::f64::consts::LN_2 + 2.0 * sum
}

#[cfg(test)]
mod tests {
    #[test]
    fn ln_matches_the_library_one() {
        let mut u = 1.0f64;
        while u > 1e-300 {
            for v in [u, u * 0.7, u * 0.51] {
                let (ours, std) = (super::ln(v), v.ln());
                assert!(
                    (ours - std).abs() <= 1e-11 * std.abs().max(1.0),
                    "{v}: {ours} {std}"
                );
            }
            u /= 3.0;
        }
        assert_eq!(super::ln(1.0), 0.0);
    }
}
