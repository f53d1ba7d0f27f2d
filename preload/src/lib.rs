//! `libleaktrace.so`, the half of leaktrace that runs inside the traced
//! program (`LD_PRELOAD`).
//!
//! Design, in the order a malloc call meets it:
//!
//! - [`entry`] exports the allocation functions as three-instruction stubs
//!   that hand the program's frame at the call to [`hooks`].
//! - [`hooks`] defines the malloc family. Each hook forwards to the next
//!   allocator in the chain ([`real`], found with `dlsym(RTLD_NEXT)`) and
//!   records the result. Frees are recorded *before* the memory goes back,
//!   allocations *after* it arrives, so another thread can never be handed an
//!   address that is still in the table.
//! - [`guard`] is the per-thread re-entrancy flag: while a thread is inside
//!   the library, every allocation it makes passes straight through. The
//!   library's own Rust heap ([`alloc`]) is kept apart from the program's,
//!   on mappings of its own ([`own_maps`]).
//! - [`unwind`] captures the caller's stack: DWARF call-frame information from
//!   the `.eh_frame_hdr` of each loaded module ([`modules`]), compiled once
//!   per return address into a tiny rule kept in a lock-free cache, so code
//!   built without frame pointers (Debian's libc and libstdc++) unwinds as
//!   cheaply as code with them; a stack the thread allocated from before is
//!   found again by checking the words its walk read, without walking.
//! - [`stacks`] interns stacks: each distinct stack is stored once and named
//!   by a 32-bit id.
//! - [`table`] maps each live block's address to its size and stack id, in
//!   many independently locked stripes of bucketed hash tables; [`stats`]
//!   keeps the live and peak figures without a shared counter on the hot
//!   path.
//! - [`sampler`] picks, with `LEAKTRACE_SAMPLE`, the allocations to record
//!   by bytes, so production runs pay for a small fraction of them.
//! - [`dump`] writes the dump file (format: the `leaktrace-format` crate) at
//!   exit, `_exit` and on request, with the process's memory ([`procmem`]).
//! - [`signals`] takes snapshot requests and fatal signals without taking
//!   the program's handlers away; [`dumper`] is the library's own thread,
//!   which writes snapshots and the final dump of a process killed by a
//!   signal, and keeps the time allocations are stamped with; [`snapshot_mask`] says whether it takes the snapshot signal.
//!   [`lifecycle`] ties start, exit and fork together.
//! - [`reach`] classifies the blocks of a final dump (reachable, definite,
//!   indirect, possible) by a conservative pointer scan of every writable
//!   mapping of the process, with the other threads stopped.
//!
//! Nothing here may panic across the FFI boundary: entry points that do real
//! work run under `catch_unwind`, and an internal failure prints one line and
//! turns tracking off ([`lifecycle::fail`]).

#![cfg_attr(test, allow(dead_code))]

mod alloc;
mod config;
mod dump;
mod dumper;
#[cfg(not(test))]
mod entry;
mod guard;
#[cfg(not(test))]
mod hooks;
mod libc_next;
mod lifecycle;
mod lock;
mod modules;
mod other_malloc;
mod own_maps;
mod procmem;
mod reach;
mod real;
mod sampler;
mod signals;
mod snapshot_mask;
mod stacks;
mod stats;
mod sys;
mod table;
mod unwind;

#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: alloc::OwnAllocator = alloc::OwnAllocator;
