//! Writing a dump file.
//!
//! The blocks are copied out of the table stripe by stripe (each stripe
//! locked only while it is copied), then the file is written under a
//! temporary name and linked to its final name, which never replaces an
//! existing file: a dump that exists is complete, and nothing is overwritten.

use crate::lock::SpinLock;
use crate::{config, dumper, lifecycle, modules, procmem, reach, stacks, stats, sys, table};
use core::sync::atomic::{AtomicBool, Ordering};
use leaktrace_format::{
    block_bytes, tag, Encoder, ProcessInfo, RecordWriter, Totals, Trigger, BLOCK_ENTRY_LEN,
    FLAG_REQUIRED,
};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;

/// Serializes dumps: the exit dump waits for a snapshot being written.
static WRITING: SpinLock<()> = SpinLock::new(());
/// Set once the final dump (exit, `_exit` or fatal signal) has begun: it is
/// written once, and no snapshot starts after it.
static FINAL: AtomicBool = AtomicBool::new(false);

/// Where the calling thread's live stack starts, for the scan: asked only
/// when there are blocks to classify (finding it unwinds the stack).
/// `None` on the library's own thread, whose stack holds nothing of the
/// program's.
pub type LiveStack<'a> = Option<&'a mut dyn FnMut() -> u64>;

/// Writes the final dump, `<prefix>.<pid>.bin`, once per process, with
/// each block's kind.
pub fn write_final(trigger: Trigger, live_stack: LiveStack) {
    if FINAL.swap(true, Ordering::AcqRel) {
        return;
    }
    let _one = WRITING.lock();
    write(trigger, 0, Some(live_stack));
}

/// Writes snapshot `n`, `<prefix>.<pid>.<n>.bin` (on the library's thread),
/// classified if `LEAKTRACE_CLASSIFY=1`.
pub fn write_snapshot(trigger: Trigger, n: u32) {
    let _one = WRITING.lock();
    if !FINAL.load(Ordering::Acquire) {
        let classify: Option<LiveStack> = config::classify_snapshots().then_some(None);
        write(trigger, n, classify);
    }
}

/// In a forked child: its final dump is still to come, and no dump is
/// being written there (the thread writing one exists only in the parent).
pub fn after_fork_child() {
    FINAL.store(false, Ordering::Release);
    WRITING.unlock_raw();
}

/// Writes a dump of everything live now; `classify`, if given, says where
/// the calling thread's live stack starts (see `reach`). Failures are
/// reported on stderr in one line; the program is never affected.
fn write(trigger: Trigger, snapshot: u32, classify: Option<LiveStack>) {
    let prefix = config::prefix();
    let pid = sys::getpid();
    let stem = if snapshot == 0 {
        format!("{prefix}.{pid}")
    } else {
        format!("{prefix}.{pid}.{snapshot}")
    };
    let name = format!("{stem}.bin");
    if let Err(e) = write_to(&prefix, &stem, &name, trigger, snapshot, classify) {
        sys::write_stderr(&format!("leaktrace: cannot write dump {name}: {e}\n"));
    }
}

fn write_to(
    prefix: &str,
    stem: &str,
    name: &str,
    trigger: Trigger,
    snapshot: u32,
    classify: Option<LiveStack>,
) -> io::Result<()> {
    let pid = sys::getpid();
    // The moment the dump began: the file's mtime minus this is the dump's cost.
    let began = sys::now_ns();
    // A fatal signal stopped a program thread, which may hold the loader's
    // lock or an arena lock: use what is known already.
    let fatal = matches!(trigger, Trigger::FatalSignal);
    // Nothing live (most short-lived processes): no stack to symbolize, so
    // no rescan of the modules (those of every recorded stack are known:
    // the unwinder rescans on meeting an unknown one), and no process
    // memory figures (reading smaps_rollup was a sixth of such a dump).
    // (A peak of 0 blocks: nothing was ever allocated, as every thread's
    // first allocation publishes; else each stripe is looked at.)
    let never = stats::peaks().1 == 0;
    let empty = never || table::is_empty();
    if !fatal && !empty {
        modules::refresh();
    }
    let memory = (!empty).then(|| procmem::read(!fatal));
    let mut classify = classify.filter(|_| config::classify() && reach::wanted());
    // A process with no live block (most short-lived ones) needs no scan:
    // the other threads are stopped only when there is something to
    // classify. The live stack is found before they stop (unwinding may
    // take the loader's lock, which a stopped thread may hold).
    let mut live_stack = None;
    let mut world = None;
    let stop_world = |live_stack: &mut Option<u64>, classify: &mut Option<LiveStack>| {
        if let Some(find) = classify.as_mut() {
            *live_stack = find.as_mut().map(|f| f());
            Some(reach::stop(dumper::thread_tid_when_started()))
        } else {
            None
        }
    };
    if classify.is_some() && !empty {
        world = stop_world(&mut live_stack, &mut classify);
    }
    let (mut blocks, mut totals) = if never {
        (Vec::new(), Totals::default())
    } else {
        table::snapshot()
    };
    if world.is_none() && classify.is_some() && !blocks.is_empty() {
        // Allocated meanwhile, by another thread.
        world = stop_world(&mut live_stack, &mut classify);
        (blocks, totals) = table::snapshot();
    }
    let mut owners = None;
    if classify.is_some() {
        owners = match &world {
            Some(world) => {
                reach::classify(world, &mut blocks, live_stack, dumper::thread_descriptor())
            }
            None => Some(Vec::new()),
        };
    }
    drop(world);
    (totals.peak_bytes, totals.peak_blocks) = stats::peaks();
    let ids = distinct_stacks(&blocks);

    let process = ProcessInfo {
        pid,
        ppid: sys::getppid(),
        start_ns: lifecycle::start_ns(),
        dump_ns: began,
        trigger,
        snapshot,
        exe: modules::exe_path(),
        cmdline: fs::read("/proc/self/cmdline")
            .map(|raw| {
                raw.split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default(),
    };

    if let Some(dir) = std::path::Path::new(name).parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = format!("{prefix}.{pid}.{}.tmp", sys::now_ns());
    // Past a file-size limit (RLIMIT_FSIZE), a write raises SIGXFSZ, whose
    // default action would kill the program: hold it off while we write.
    let _no_sigxfsz = sys::HoldSignal::new(libc::SIGXFSZ);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    let written = (|| -> io::Result<File> {
        // A small dump in one small buffer (a 64 KiB one is a mapping of
        // its own, made and unmapped for a few hundred bytes).
        let capacity = (8192 + blocks.len() * BLOCK_ENTRY_LEN).min(1 << 16);
        let mut w = RecordWriter::new(BufWriter::with_capacity(capacity, file))?;
        w.record(tag::PROCESS, FLAG_REQUIRED, &Encoder::process(&process))?;
        w.record(tag::TOTALS, 0, &Encoder::totals(&totals))?;
        w.record(
            tag::MODULES,
            FLAG_REQUIRED,
            &Encoder::modules(&modules::registry()),
        )?;
        if let Some(memory) = &memory {
            w.record(tag::MEMORY, 0, &Encoder::memory(memory))?;
        }
        if let Some(o) = crate::other_malloc::found() {
            w.record(tag::ALLOCATOR, 0, &Encoder::other_malloc(&o))?;
        }
        let mean = config::sample_bytes();
        if mean != 0 {
            w.record(tag::SAMPLING, FLAG_REQUIRED, &mean.to_le_bytes())?;
        }
        let mut e = Encoder::new();
        e.u32(ids.len() as u32);
        for &id in &ids {
            e.stack(id, stacks::get(id));
        }
        w.record(tag::STACKS, FLAG_REQUIRED, &e.buf)?;
        w.begin(
            tag::BLOCKS,
            FLAG_REQUIRED,
            8 + (blocks.len() * BLOCK_ENTRY_LEN) as u64,
        )?;
        w.raw(&(blocks.len() as u64).to_le_bytes())?;
        for b in &blocks {
            w.raw(&block_bytes(b))?;
        }
        // Written whenever the scan ran, also with no blocks (1.3), so
        // that the report can say the dump was classified.
        if let Some(owners) = &owners {
            w.begin(tag::KINDS, 0, 8 + blocks.len() as u64)?;
            w.raw(&(blocks.len() as u64).to_le_bytes())?;
            let kinds: Vec<u8> = blocks.iter().map(|b| b.kind.to_u8()).collect();
            w.raw(&kinds)?;
            if owners.len() == blocks.len() && !blocks.is_empty() {
                w.begin(tag::OWNERS, 0, 8 + 4 * blocks.len() as u64)?;
                w.raw(&(blocks.len() as u64).to_le_bytes())?;
                for chunk in owners.chunks(1 << 14) {
                    let bytes: Vec<u8> = chunk.iter().flat_map(|o| o.to_le_bytes()).collect();
                    w.raw(&bytes)?;
                }
            }
        }
        let out = w.finish()?;
        out.into_inner().map_err(|e| e.into_error())
    })();
    let result = written.and_then(|mut f| {
        f.flush()?;
        publish(&tmp, stem, name)
    });
    let _ = fs::remove_file(&tmp);
    result
}

/// The stack ids of `blocks`, each once, in increasing order: an
/// open-addressing set, not a sort of millions of ids (stacks are few).
fn distinct_stacks(blocks: &[leaktrace_format::Block]) -> Vec<u32> {
    let mut slots = vec![0u32; 1024];
    let mut ids = Vec::new();
    let mut last = 0;
    for b in blocks {
        // Ids are arena offsets, never 0 (the empty slot).
        if b.stack == last || b.stack == 0 {
            continue;
        }
        last = b.stack;
        if (ids.len() + 1) * 2 > slots.len() {
            slots = vec![0u32; slots.len() * 4];
            for &id in &ids {
                let at = free_slot(&slots, id);
                slots[at] = id;
            }
        }
        let at = free_slot(&slots, b.stack);
        if slots[at] == 0 {
            slots[at] = b.stack;
            ids.push(b.stack);
        }
    }
    ids.sort_unstable();
    ids
}

/// The slot of `id` in `slots`, or the empty slot where it belongs.
fn free_slot(slots: &[u32], id: u32) -> usize {
    let mask = slots.len() - 1;
    let mut i = (id.wrapping_mul(0x9e37_79b1) >> 8) as usize & mask;
    while slots[i] != 0 && slots[i] != id {
        i = (i + 1) & mask;
    }
    i
}

/// Gives the finished temporary file its final name without ever replacing
/// an existing file: on a clash (an earlier image of this pid, before an
/// exec) the next free name `<stem>-N.bin`.
fn publish(tmp: &str, stem: &str, name: &str) -> io::Result<()> {
    let mut target = name.to_string();
    for n in 1..10_000 {
        match fs::hard_link(tmp, &target) {
            Ok(()) => {
                if n > 1 {
                    sys::write_stderr(&format!(
                        "leaktrace: {name} exists; dump written to {target}\n"
                    ));
                }
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                target = format!("{stem}-{n}.bin");
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free file name"))
}
