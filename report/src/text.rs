//! The human report, in the spirit of valgrind's: a header with the
//! process and a LEAK SUMMARY, then each call site with its stack.

use crate::analysis::Analysis;
use crate::symbolize::Frame;
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
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn red(&self, s: &str) -> String {
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

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn frame_line(f: &Frame, first: bool, style: &Style) -> String {
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
        match p.trigger {
            leaktrace_format::Trigger::Exit => "ended by exit".to_string(),
            t => format!("dump taken by {}", t.name()),
        }
    );
    let _ = writeln!(out, "command: {}", p.cmdline.join(" "));
    let _ = writeln!(out, "dump: {}", a.input.path);
    if let Some(mean) = d.sample_bytes {
        let _ = writeln!(
            out,
            "sampled: about one allocation per {} recorded; figures marked ~ are estimates",
            plural(mean, "byte", "bytes")
        );
    }
    let est = if d.sample_bytes.is_some() { "~" } else { "" };
    for w in &a.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "LEAK SUMMARY");
    let leaked = format!(
        "{est}{} in {est}{} from {}",
        plural(a.leaked_bytes, "byte", "bytes"),
        plural(a.leaked_blocks, "block", "blocks"),
        plural(a.total_sites as u64, "call site", "call sites")
    );
    let _ = writeln!(
        out,
        "   not freed:   {}",
        if a.leaked_blocks > 0 {
            style.red(&leaked)
        } else {
            leaked
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
    if a.sites.len() < a.total_sites {
        let _ = writeln!(
            out,
            "   shown:       {} of {} call sites",
            a.sites.len(),
            a.total_sites
        );
    }
    for (i, s) in a.sites.iter().enumerate() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} in {est}{}  {}",
            style.bold(&format!("{est}{}", plural(s.bytes, "byte", "bytes"))),
            plural(s.blocks, "block", "blocks"),
            style.dim(&format!("(site {} of {})", i + 1, a.total_sites))
        );
        if s.frames.is_empty() {
            let _ = writeln!(out, "    (no stack recorded)");
        }
        for (j, f) in s.frames.iter().enumerate() {
            let _ = writeln!(out, "{}", frame_line(f, j == 0, style));
        }
    }
    out
}
