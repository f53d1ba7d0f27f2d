//! Text for growth over a series of dumps and for `--diff`.

use crate::diff::Diff;
use crate::series::{Class, Series};
use crate::text::{plural, shown_line, stack_lines, thousands, trigger_text, Style};
use std::fmt::Write;

fn arrow_list(values: &[u64]) -> String {
    values
        .iter()
        .map(|&v| thousands(v))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Values of the classified points, `?` at the others.
fn maybe_arrow_list(values: &[Option<u64>]) -> String {
    values
        .iter()
        .map(|v| v.map_or_else(|| "?".to_string(), thousands))
        .collect::<Vec<_>>()
        .join(" → ")
}

fn signed(n: i64) -> String {
    if n < 0 {
        format!("-{}", thousands(n.unsigned_abs()))
    } else {
        format!("+{}", thousands(n as u64))
    }
}

pub fn render_series(s: &Series, style: &Style) -> String {
    let mut out = String::new();
    let span = s.points.last().map_or(0.0, |p| p.seconds);
    let _ = writeln!(
        out,
        "{} growth of {} (pid {}) over {} dumps and {span:.2} s",
        style.bold("leaktrace:"),
        s.exe,
        s.pid,
        s.points.len()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "DUMPS");
    for p in &s.points {
        let what = match p.snapshot {
            0 => format!("final ({})", p.trigger),
            k => format!("snapshot {k} ({})", p.trigger),
        };
        let _ = writeln!(
            out,
            "  {:>9.2} s  {:>14} in {:>12}  {what}  {}",
            p.seconds,
            plural(p.leaked_bytes, "byte", "bytes"),
            plural(p.leaked_blocks, "block", "blocks"),
            style.dim(&p.path)
        );
    }
    let _ = writeln!(out);
    let any_classified = s.points.iter().any(|p| p.classified);
    let _ = writeln!(
        out,
        "{}",
        if any_classified {
            "SITES BY GROWTH (lost growth first, then sites that only grew, then by bytes per second)"
        } else {
            "SITES BY GROWTH (sites that only grew first, then by bytes per second)"
        }
    );
    shown_line(&mut out, s.trends.len(), s.total_sites, "call sites");
    let intervals = s.points.len().saturating_sub(1);
    for (i, t) in s.trends.iter().enumerate() {
        let _ = writeln!(out);
        let steadiness = if t.only_grows() {
            format!("grew in {} of {intervals} intervals, never shrank", t.grew)
        } else {
            format!(
                "grew in {}, shrank in {} of {intervals} intervals",
                t.grew, t.shrank
            )
        };
        // What grew: ", lost", ", still reachable", ", lost and still reachable".
        let kinds = if t.growth.is_empty() {
            String::new()
        } else {
            let words: Vec<&str> = t.growth.iter().map(|c| c.words()).collect();
            format!(", {}", words.join(" and "))
        };
        let _ = writeln!(
            out,
            "{}, {}{kinds}  {}",
            style.bold(&format!(
                "{} bytes/s",
                signed(t.bytes_per_second.round() as i64)
            )),
            steadiness,
            style.dim(&format!("(site {} of {})", i + 1, s.total_sites))
        );
        let _ = writeln!(out, "    bytes:  {}", arrow_list(&t.bytes));
        let _ = writeln!(out, "    blocks: {}", arrow_list(&t.blocks));
        for class in Class::ALL {
            let values = t.class_bytes(class);
            if values.iter().any(|v| v.is_some_and(|b| b > 0)) {
                let label = format!("{}:", class.words());
                let _ = writeln!(out, "    {label:<7} {}", maybe_arrow_list(values));
            }
        }
        stack_lines(&mut out, &t.frames, style);
    }
    out
}

pub fn render_diff(d: &Diff, style: &Style) -> String {
    let mut out = String::new();
    let (a, b) = (&d.before.input, &d.after.input);
    let seconds = b
        .dump
        .process
        .dump_ns
        .saturating_sub(a.dump.process.dump_ns) as f64
        / 1e9;
    let _ = writeln!(
        out,
        "{} what is new or grown in {} since {} ({seconds:.2} s later)",
        style.bold("leaktrace:"),
        b.path,
        a.path
    );
    for (label, input) in [("before", a), ("after", b)] {
        let p = &input.dump.process;
        let _ = writeln!(
            out,
            "{label}: {} (pid {}), {}",
            p.exe,
            p.pid,
            trigger_text(p)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "DIFF SUMMARY");
    let _ = writeln!(
        out,
        "   live:        {} bytes in {} blocks",
        signed(d.net_bytes),
        signed(d.net_blocks)
    );
    let _ = writeln!(
        out,
        "   grown:       {}",
        plural(d.total_changes as u64, "call site", "call sites")
    );
    for c in &d.changes {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} in {} blocks  {}",
            style.bold(&format!("+{} bytes", thousands(c.bytes_added()))),
            signed(c.blocks_added()),
            style.dim(&if c.is_new() {
                format!(
                    "(new: {} in {})",
                    plural(c.bytes_after, "byte", "bytes"),
                    plural(c.blocks_after, "block", "blocks")
                )
            } else {
                format!(
                    "({} → {} bytes, {} → {} blocks)",
                    thousands(c.bytes_before),
                    thousands(c.bytes_after),
                    thousands(c.blocks_before),
                    thousands(c.blocks_after)
                )
            })
        );
        stack_lines(&mut out, &c.frames, style);
    }
    out
}
