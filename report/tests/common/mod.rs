//! Dumps built in memory for the report's tests, and the report's steps run
//! on them directly: no traced program, no compiler, no binary on disk.
//!
//! Return addresses fall in a module whose path is a pseudo path
//! (`[fake]`, `[other]`), which the symbolizer never opens: every frame is
//! `??? [fake]+0xOFFSET`, the same on every machine.
#![allow(dead_code)] // each test file uses its part

use clap::Parser;
use leaktrace_format::*;
use leaktrace_report::analysis::{analyse, Analysis};
use leaktrace_report::cli::ReportOptions;
use leaktrace_report::input::Input;
use leaktrace_report::suppress::Suppressions;
use leaktrace_report::{json, text};
use serde_json::Value;

/// Where `[fake]` is loaded: its offsets are `pc - FAKE`.
pub const FAKE: u64 = 0x5555_0000_0000;
/// Where `[other]` is loaded.
pub const OTHER: u64 = 0x7f00_0000_0000;
/// The process start of every dump, in ns since the epoch.
pub const START_NS: u64 = 1_000_000_000_000;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    options: ReportOptions,
}

/// The options leakreport would take from `args`.
pub fn options(args: &[&str]) -> ReportOptions {
    Args::parse_from(std::iter::once("leakreport").chain(args.iter().copied())).options
}

fn module(path: &str, bias: u64) -> Module {
    Module {
        path: path.into(),
        build_id: Vec::new(),
        bias,
        unloaded: false,
        segments: vec![Segment {
            vaddr: 0,
            memsz: 0x10_0000,
            flags: 5,
        }],
    }
}

/// A dump under construction: one process, its stacks and blocks.
pub struct Fake {
    pub dump: Dump,
}

impl Fake {
    /// Process `pid` of `exe`, dumped at exit `seconds` after it started.
    pub fn new(pid: u32, exe: &str, seconds: u64) -> Fake {
        Fake {
            dump: Dump {
                version_minor: VERSION_MINOR,
                process: ProcessInfo {
                    pid,
                    ppid: 1,
                    start_ns: START_NS,
                    dump_ns: START_NS + seconds * 1_000_000_000,
                    trigger: Trigger::Exit,
                    snapshot: 0,
                    exe: exe.into(),
                    cmdline: vec![exe.rsplit('/').next().unwrap().into(), "-x".into()],
                },
                modules: vec![module("[fake]", FAKE), module("[other]", OTHER)],
                ..Dump::default()
            },
        }
    }

    /// Snapshot `k` (on signal) rather than the final dump.
    pub fn snapshot(mut self, k: u32) -> Fake {
        self.dump.process.snapshot = k;
        self.dump.process.trigger = Trigger::Signal;
        self
    }

    /// Stack `id`: offsets in `[fake]`, innermost first.
    pub fn stack(mut self, id: u32, offsets: &[u64]) -> Fake {
        let pcs = offsets.iter().map(|o| FAKE + o).collect();
        self.dump.stacks.push(Stack { id, pcs });
        self
    }

    /// Stack `id`: offsets in `[other]`.
    pub fn other_stack(mut self, id: u32, offsets: &[u64]) -> Fake {
        let pcs = offsets.iter().map(|o| OTHER + o).collect();
        self.dump.stacks.push(Stack { id, pcs });
        self
    }

    /// `n` blocks of `size` bytes at `stack`, of `kind`, allocated
    /// `ds` tenths of a second after the start.
    pub fn blocks(mut self, n: usize, size: u64, stack: u32, kind: Kind, ds: u32) -> Fake {
        for _ in 0..n {
            let address = 0x10_0000 + self.dump.blocks.len() as u64 * 0x1000;
            self.dump.blocks.push(Block {
                address,
                size,
                stack,
                allocated_ds: ds,
                kind,
            });
        }
        if kind != Kind::Unknown {
            self.dump.classified = true;
        }
        self
    }

    /// The dump as leakreport reads it: through the writer and the parser.
    pub fn written(self) -> Dump {
        parse(&write_dump(&self.dump, Vec::new()).unwrap()).unwrap()
    }

    /// Analysed with leakreport's `args`.
    pub fn analyse(self, args: &[&str]) -> Analysis {
        analysed(self.written(), args, "")
    }
}

/// `dump` analysed with leakreport's `args` and `suppressions` (their
/// file's text; none built in).
pub fn analysed(dump: Dump, args: &[&str], suppressions: &str) -> Analysis {
    let p = &dump.process;
    let path = match p.snapshot {
        0 => format!("lt.{}.bin", p.pid),
        k => format!("lt.{}.{k}.bin", p.pid),
    };
    let suppressions = Suppressions::parse(suppressions, "test.supp").unwrap();
    analyse(Input { path, dump }, &options(args), &suppressions)
}

/// The text report, without colour.
pub fn text_of(a: &Analysis) -> String {
    text::render(a, &text::Style { on: false })
}

/// The JSON report.
pub fn json_of(a: &Analysis) -> Value {
    serde_json::to_value(json::report(a)).unwrap()
}

/// The lines that head each site of a text report.
pub fn headlines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("(site ")).collect()
}

/// Fails, showing `text`, unless it holds `piece`.
#[track_caller]
pub fn assert_has(text: &str, piece: &str) {
    assert!(text.contains(piece), "{piece:?} not in:\n{text}");
}
