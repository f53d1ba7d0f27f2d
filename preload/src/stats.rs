//! Live and peak figures without a shared counter on the hot path.
//!
//! Each thread adds its changes to live bytes and blocks into its own
//! pending counters and publishes them to the global ones only when they
//! grow large, or when its estimate of the global figure (the value it last
//! saw plus its pending change) passes the peak. A single-threaded program
//! therefore gets its exact peak; with several threads the peak may miss up
//! to `FLUSH_BYTES` per thread that has not published.

use crate::guard::ThreadState;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
static PEAK_BYTES: AtomicU64 = AtomicU64::new(0);
static PEAK_BLOCKS: AtomicU64 = AtomicU64::new(0);

const FLUSH_BYTES: i64 = 256 << 10;
const FLUSH_BLOCKS: i64 = 1024;

/// Accounts for a change of `bytes` and `blocks` in the live heap.
#[inline]
pub fn change(state: &mut ThreadState, bytes: i64, blocks: i64) {
    state.pending_bytes += bytes;
    state.pending_blocks += blocks;
    let growing = bytes > 0 || blocks > 0;
    let est_bytes = state.seen_live_bytes + state.pending_bytes;
    let est_blocks = state.seen_live_blocks + state.pending_blocks;
    if state.pending_bytes.abs() >= FLUSH_BYTES
        || state.pending_blocks.abs() >= FLUSH_BLOCKS
        || (growing
            && (est_bytes > PEAK_BYTES.load(Ordering::Relaxed) as i64
                || est_blocks > PEAK_BLOCKS.load(Ordering::Relaxed) as i64))
    {
        flush(state);
    }
}

/// Publishes this thread's pending changes.
pub fn flush(state: &mut ThreadState) {
    let bytes = LIVE_BYTES.fetch_add(state.pending_bytes, Ordering::Relaxed) + state.pending_bytes;
    let blocks =
        LIVE_BLOCKS.fetch_add(state.pending_blocks, Ordering::Relaxed) + state.pending_blocks;
    state.pending_bytes = 0;
    state.pending_blocks = 0;
    state.seen_live_bytes = bytes;
    state.seen_live_blocks = blocks;
    PEAK_BYTES.fetch_max(bytes.max(0) as u64, Ordering::Relaxed);
    PEAK_BLOCKS.fetch_max(blocks.max(0) as u64, Ordering::Relaxed);
}

/// The peak live bytes and blocks published so far.
pub fn peaks() -> (u64, u64) {
    (
        PEAK_BYTES.load(Ordering::Relaxed),
        PEAK_BLOCKS.load(Ordering::Relaxed),
    )
}
