//! The human report, in the spirit of valgrind's: a header with the
//! process and a LEAK SUMMARY, then each call site with its stack.

use crate::analysis::{Amount, Analysis};
use crate::symbolize::Frame;
use leaktrace_format::Kind;
use std::fmt::Write;

/// ANSI styling, or none.
pub struct Style {
    pub on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// 10695475 → "10.2 MiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// 200.5 → "3 min 20 s".
pub fn human_age(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let whole = s.round() as u64;
    let (d, h, m, sec) = (
        whole / 86400,
        whole / 3600 % 24,
        whole / 60 % 60,
        whole % 60,
    );
    match (d, h) {
        (0, 0) => format!("{m} min {sec} s"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// How the dump came about, for the header.
pub fn trigger_text(p: &leaktrace_format::ProcessInfo) -> String {
    use leaktrace_format::Trigger;
    match p.trigger {
        Trigger::Exit => "ended by exit".into(),
        Trigger::ImmediateExit => "ended by _exit".into(),
        Trigger::FatalSignal => "killed by a signal".into(),
        Trigger::Signal => format!("snapshot {} (on signal)", p.snapshot),
        Trigger::Interval => format!("snapshot {} (periodic)", p.snapshot),
        t => format!("dump taken by {}", t.name()),
    }
}

pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub fn frame_line(f: &Frame, first: bool, style: &Style) -> String {
    let verb = if first { "at" } else { "by" };
    let name = f.function.as_deref().unwrap_or("???");
    let mut line = format!("    {verb} {}", style.bold(name));
    match (&f.file, f.line) {
        (Some(file), Some(l)) => {
            let _ = write!(line, " ({}:{l})", base_name(file));
        }
        (Some(file), None) => {
            let _ = write!(line, " ({})", base_name(file));
        }
        _ => {}
    }
    if f.inlined {
        line.push_str(" [inlined]");
    }
    let where_ = if f.function.is_none() {
        format!("{}+{:#x}", base_name(&f.module), f.offset)
    } else {
        base_name(&f.module).to_string()
    };
    let _ = write!(
        line,
        "  {}",
        style.dim(&format!("{where_} {:#x}", f.address))
    );
    line
}

/// What a site is called in one line: its own innermost function, or
/// `module+0xoffset` when that frame has no name.
pub fn site_name(s: &crate::group::Site) -> String {
    match s.frames.get(s.key_frame) {
        Some(Frame {
            function: Some(f), ..
        }) => f.to_string(),
        Some(f) => format!("{}+{:#x}", base_name(&f.module), f.offset),
        None => "no stack".into(),
    }
}

/// A site's stack, one frame a line, innermost first.
pub fn stack_lines(out: &mut String, frames: &[Frame], style: &Style) {
    if frames.is_empty() {
        let _ = writeln!(out, "    (no stack recorded)");
    }
    for (j, f) in frames.iter().enumerate() {
        let _ = writeln!(out, "{}", frame_line(f, j == 0, style));
    }
}

pub fn render(a: &Analysis, style: &Style) -> String {
    let d = &a.input.dump;
    let p = &d.process;
    let mut out = String::new();
    let seconds = p.dump_ns.saturating_sub(p.start_ns) as f64 / 1e9;
    let _ = writeln!(
        out,
        "{} {} (pid {}, ppid {}), {} after {seconds:.2} s",
        style.bold("leaktrace:"),
        p.exe,
        p.pid,
        p.ppid,
        trigger_text(p)
    );
    let _ = writeln!(out, "command: {}", p.cmdline.join(" "));
    let _ = writeln!(out, "dump: {}", a.input.path);
    if let Some(o) = &d.other_malloc {
        let _ = writeln!(out, "{} {}", style.red("not traced:"), o.describe());
    }
    if let Some(mean) = d.sample_bytes {
        let _ = writeln!(
            out,
            "sampled: about one allocation per {} recorded; figures marked ~ are estimates",
            plural(mean, "byte", "bytes")
        );
    }
    if let Some(m) = &d.memory {
        memory_lines(&mut out, m, a.live.bytes);
    }
    let est = if d.sample_bytes.is_some() { "~" } else { "" };
    for w in &a.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "LEAK SUMMARY");
    let t = &a.totals;
    let lines: &[(&str, Amount, bool)] = if a.classified {
        &[
            ("definitely lost", t.definite, true),
            ("indirectly lost", t.indirect, true),
            ("  possibly lost", t.possible, true),
            ("still reachable", t.reachable, false),
            ("     suppressed", t.suppressed, false),
        ]
    } else {
        &[
            ("      not freed", t.unclassified, true),
            ("     suppressed", t.suppressed, false),
        ]
    };
    amount_lines(&mut out, lines, est, style);
    if !a.classified && a.input.dump.process.snapshot == 0 && d.sample_bytes.is_none() {
        let _ = writeln!(
            out,
            "   (not classified into lost and still reachable: LEAKTRACE_CLASSIFY=0, a dump from before 1.1, or one with no blocks from before 1.3)"
        );
    }
    let _ = writeln!(
        out,
        "   call sites:  {}{}",
        plural(a.total_sites as u64, "call site", "call sites"),
        if a.reachable_hidden {
            " (--show-reachable for the blocks still in use)"
        } else {
            ""
        }
    );
    let t = &d.totals;
    if d.sample_bytes.is_some() {
        // Counters of a sampled run count the recorded allocations only.
        let _ = writeln!(
            out,
            "   recorded:    {} ({}) and {} of the sample",
            plural(t.allocations, "allocation", "allocations"),
            plural(t.bytes_allocated, "byte", "bytes"),
            plural(t.frees, "free", "frees")
        );
    } else {
        let _ = writeln!(
            out,
            "   allocated:   {} in {}; {}",
            plural(t.bytes_allocated, "byte", "bytes"),
            plural(t.allocations, "allocation", "allocations"),
            plural(t.frees, "free", "frees")
        );
        let _ = writeln!(
            out,
            "   peak:        {} in {}",
            plural(t.peak_bytes, "byte", "bytes"),
            plural(t.peak_blocks, "block", "blocks")
        );
    }
    shown_line(&mut out, a.shown.len(), a.total_sites, "call sites");
    for &i in &a.shown {
        let s = &a.sites[i];
        let _ = writeln!(out);
        let kind = kind_words(s.kind);
        let size = site_size(s.bytes, s.indirect_bytes, s.indirect_blocks, est);
        let owner = match s.owner {
            Some(o) => match a.numbers[o] {
                Some(n) => format!(", owned by site {n} ({})", site_name(&a.sites[o])),
                None => format!(", owned by a suppressed site ({})", site_name(&a.sites[o])),
            },
            None => String::new(),
        };
        let number = format!("(site {} of {})", a.numbers[i].unwrap_or(0), a.total_sites);
        let tail = format!("{kind}{owner}");
        headline(&mut out, &size, s.blocks, est, &tail, &number, style);
        if let Some(t) = s.times {
            let oldest = crate::analysis::age_seconds(d, t.first_ds);
            let newest = crate::analysis::age_seconds(d, t.last_ds);
            let _ = writeln!(
                out,
                "    {}",
                style.dim(&if t.first_ds == t.last_ds {
                    format!("allocated {} before the dump", human_age(oldest))
                } else {
                    format!(
                        "allocated {} to {} before the dump",
                        human_age(oldest),
                        human_age(newest)
                    )
                })
            );
        }
        stack_lines(&mut out, &s.frames, style);
    }
    out
}

/// `   definitely lost: 48 bytes in 3 blocks`, one line a labelled amount,
/// in red when `alarming` and not empty; `est` ("~" or "") marks estimates.
pub fn amount_lines(out: &mut String, lines: &[(&str, Amount, bool)], est: &str, style: &Style) {
    for (label, value, alarming) in lines {
        let text = format!(
            "{est}{} in {est}{}",
            plural(value.bytes, "byte", "bytes"),
            plural(value.blocks, "block", "blocks")
        );
        let text = if *alarming && value.blocks > 0 {
            style.red(&text)
        } else {
            text
        };
        let _ = writeln!(out, "   {label}: {text}");
    }
}

/// The line that heads a site: "135 (48 direct, 87 indirect) bytes in 3
/// blocks{tail}  (site 1 of 2)", its size in bold and its number dim.
pub fn headline(
    out: &mut String,
    size: &str,
    blocks: u64,
    est: &str,
    tail: &str,
    number: &str,
    style: &Style,
) {
    let _ = writeln!(
        out,
        "{} in {est}{}{tail}  {}",
        style.bold(size),
        plural(blocks, "block", "blocks"),
        style.dim(number)
    );
}

/// "   shown:       10 of 200 call sites", when a cut left some out.
pub fn shown_line(out: &mut String, shown: usize, total: usize, what: &str) {
    if shown < total {
        let _ = writeln!(out, "   shown:       {shown} of {total} {what}");
    }
}

/// How a site's kind is said after its size: ", definitely lost".
pub fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::Definite => ", definitely lost",
        Kind::Indirect => ", indirectly lost",
        Kind::Possible => ", possibly lost",
        Kind::Reachable => ", still reachable",
        Kind::Unknown => "",
    }
}

/// A site's size: "111 bytes", or valgrind's "240 (240 direct, 40,000
/// indirect) bytes" for one that owns indirect blocks.
pub fn site_size(bytes: u64, indirect_bytes: u64, indirect_blocks: u64, est: &str) -> String {
    if indirect_bytes > 0 || indirect_blocks > 0 {
        format!(
            "{est}{} ({est}{} direct, {est}{} indirect) bytes",
            thousands(bytes.saturating_add(indirect_bytes)),
            thousands(bytes),
            thousands(indirect_bytes)
        )
    } else {
        format!("{est}{}", plural(bytes, "byte", "bytes"))
    }
}

/// The process's memory and how much of it the live heap explains.
fn memory_lines(out: &mut String, m: &leaktrace_format::Memory, heap: u64) {
    if m.has_process {
        let _ = writeln!(
            out,
            "memory: VSS {}, RSS {}, PSS {}, USS {}, swap {}",
            human_bytes(m.vss),
            human_bytes(m.rss),
            human_bytes(m.pss),
            human_bytes(m.uss),
            human_bytes(m.swap)
        );
    }
    let mut heap_line = format!("heap: {} live in tracked blocks", human_bytes(heap));
    if m.has_process && m.rss > 0 {
        let _ = write!(
            heap_line,
            " ({:.0}% of RSS)",
            heap as f64 * 100.0 / m.rss as f64
        );
    }
    if m.has_malloc {
        let _ = write!(
            heap_line,
            "; glibc malloc: {} in use, {} free in its arenas, {} mapped for large blocks",
            human_bytes(m.malloc_in_use),
            human_bytes(m.malloc_free),
            human_bytes(m.malloc_mmapped)
        );
    }
    let _ = writeln!(out, "{heap_line}");
}
