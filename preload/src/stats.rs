//! Live and peak figures without a shared counter on the hot path.
//!
//! Each thread adds its changes to live bytes and blocks into its own
//! pending counters and publishes them to the global ones only when they
//! grow large, or when the live figure may pass the peak. A single-threaded
//! program therefore gets its exact peak; with several threads the peak may
//! miss up to `FLUSH_BYTES` per thread that has not published.
//!
//! "May pass the peak" is decided against a headroom the thread computes
//! when it publishes: the peak then minus the live figure then. Other
//! threads only raise the peak, so the headroom is never too large, and the
//! test on each change is one add and one compare per figure. Each figure
//! keeps a limit such that `pending + FLUSH - 1`, read unsigned, exceeds it
//! exactly when the pending change is above the headroom or at most
//! `-FLUSH` (the negative values wrap to the top). A new thread's limits
//! are 0, so its first change publishes and sets them.

use crate::guard::ThreadState;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The published figures, in a cache line of their own: every thread
/// writes them when it publishes, and a neighbour read on every call (the
/// next allocator's address was one) would miss after each publication.
#[repr(align(64))]
struct Published {
    live_bytes: AtomicI64,
    live_blocks: AtomicI64,
    peak_bytes: AtomicU64,
    peak_blocks: AtomicU64,
}

static PUBLISHED: Published = Published {
    live_bytes: AtomicI64::new(0),
    live_blocks: AtomicI64::new(0),
    peak_bytes: AtomicU64::new(0),
    peak_blocks: AtomicU64::new(0),
};

const FLUSH_BYTES: i64 = 256 << 10;
const FLUSH_BLOCKS: i64 = 1024;

/// Whether `pending` passed the limit `limit` kept for it (see the module
/// documentation).
#[inline(always)]
fn beyond(pending: i64, flush: i64, limit: u64) -> bool {
    pending.wrapping_add(flush - 1) as u64 > limit
}

/// The limit for a figure with `headroom` below its peak.
fn limit(headroom: i64, flush: i64) -> u64 {
    (headroom.clamp(0, flush - 1) + flush - 1) as u64
}

/// Accounts for a change of `bytes` and `blocks` in the live heap.
#[inline(always)]
pub fn change(state: &mut ThreadState, bytes: i64, blocks: i64) {
    state.pending_bytes += bytes;
    state.pending_blocks += blocks;
    if beyond(state.pending_bytes, FLUSH_BYTES, state.bytes_limit)
        | beyond(state.pending_blocks, FLUSH_BLOCKS, state.blocks_limit)
    {
        flush(state);
    }
}

/// Publishes this thread's pending changes.
#[inline(never)]
pub fn flush(state: &mut ThreadState) {
    let bytes = PUBLISHED
        .live_bytes
        .fetch_add(state.pending_bytes, Ordering::Relaxed)
        + state.pending_bytes;
    let blocks = PUBLISHED
        .live_blocks
        .fetch_add(state.pending_blocks, Ordering::Relaxed)
        + state.pending_blocks;
    state.pending_bytes = 0;
    state.pending_blocks = 0;
    let peak_bytes = PUBLISHED
        .peak_bytes
        .fetch_max(bytes.max(0) as u64, Ordering::Relaxed)
        .max(bytes.max(0) as u64);
    let peak_blocks = PUBLISHED
        .peak_blocks
        .fetch_max(blocks.max(0) as u64, Ordering::Relaxed)
        .max(blocks.max(0) as u64);
    state.bytes_limit = limit(peak_bytes as i64 - bytes, FLUSH_BYTES);
    state.blocks_limit = limit(peak_blocks as i64 - blocks, FLUSH_BLOCKS);
}

/// The peak live bytes and blocks published so far.
pub fn peaks() -> (u64, u64) {
    (
        PUBLISHED.peak_bytes.load(Ordering::Relaxed),
        PUBLISHED.peak_blocks.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_flags_exactly_a_change_past_the_headroom_or_a_large_drop() {
        for headroom in [0, 1, 100, FLUSH_BYTES - 1, FLUSH_BYTES, 10 * FLUSH_BYTES] {
            let lim = limit(headroom, FLUSH_BYTES);
            let room = headroom.min(FLUSH_BYTES - 1);
            for pending in [-2 * FLUSH_BYTES, -FLUSH_BYTES, -FLUSH_BYTES + 1, -1, 0, 1] {
                let want = pending > room || pending <= -FLUSH_BYTES;
                assert_eq!(
                    beyond(pending, FLUSH_BYTES, lim),
                    want,
                    "{headroom} {pending}"
                );
            }
            for pending in [room, room + 1, FLUSH_BYTES - 1, FLUSH_BYTES] {
                let want = pending > room;
                assert_eq!(
                    beyond(pending, FLUSH_BYTES, lim),
                    want,
                    "{headroom} {pending}"
                );
            }
        }
        // A new thread's limit of 0 flags its first change of any sign.
        for pending in [-FLUSH_BYTES, -1, 1, FLUSH_BYTES] {
            assert!(beyond(pending, FLUSH_BYTES, 0), "{pending}");
        }
    }
}
