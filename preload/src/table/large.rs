//! Sizes of the few blocks of 16 GiB and more, which an entry's size field
//! cannot hold: a fixed array (no allocation), locked after a stripe lock.

use super::entry::LARGE;
use crate::lock::SpinLock;

static BLOCKS: SpinLock<[(u64, u64); 64]> = SpinLock::new([(0, 0); 64]);

pub fn put(addr: u64, size: u64) {
    let mut blocks = BLOCKS.lock();
    if let Some(slot) = blocks.iter_mut().find(|b| b.0 == 0 || b.0 == addr) {
        *slot = (addr, size);
    }
}

pub fn get(addr: u64) -> u64 {
    let blocks = BLOCKS.lock();
    blocks.iter().find(|b| b.0 == addr).map_or(LARGE, |b| b.1)
}

pub fn take(addr: u64) -> u64 {
    let mut blocks = BLOCKS.lock();
    match blocks.iter_mut().find(|b| b.0 == addr) {
        Some(slot) => core::mem::take(slot).1,
        None => LARGE,
    }
}

pub fn lock_raw() {
    BLOCKS.lock_raw();
}

pub fn unlock_raw() {
    BLOCKS.unlock_raw();
}
