//! Text for many processes ([`crate::processes`]): a summary of the run,
//! one line a process, then the leaks, identical ones of many processes of
//! one program merged.

use crate::analysis::{Amount, Totals};
use crate::processes::{Process, Summary};
use crate::text::{
    amount_lines, base_name, headline, kind_words, plural, shown_line, site_name, site_size,
    stack_lines, thousands, Style,
};
use std::fmt::Write;

/// How many pids a merged leak lists before "and N more".
const PIDS_LISTED: usize = 8;
/// The widest command shown in the process table, in characters.
const COMMAND_WIDTH: usize = 72;

pub fn render(s: &Summary, style: &Style) -> String {
    let mut out = String::new();
    let est = if s.sampled > 0 { "~" } else { "" };
    let possibly = s
        .processes
        .iter()
        .filter(|p| p.leaked().blocks == 0 && p.analysis.totals.possible.blocks > 0)
        .count();
    let _ = writeln!(
        out,
        "{} {} ({}): {} leaking{}; each one's own report: --processes full",
        style.bold("leaktrace:"),
        plural(s.processes.len() as u64, "process", "processes"),
        plural(s.dumps as u64, "dump", "dumps"),
        thousands(s.leaking() as u64),
        if possibly > 0 {
            format!(", {} more possibly", thousands(possibly as u64))
        } else {
            String::new()
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "LEAK SUMMARY (all processes)");
    let t = &s.totals;
    let mut lines = vec![
        ("definitely lost", t.definite, true),
        ("indirectly lost", t.indirect, true),
        ("  possibly lost", t.possible, true),
        ("still reachable", t.reachable, false),
        ("     suppressed", t.suppressed, false),
    ];
    if s.unclassified > 0 {
        lines.push(("      not freed", t.unclassified, true));
    }
    amount_lines(&mut out, &lines, est, style);
    if s.unclassified > 0 {
        let _ = writeln!(
            out,
            "   (not freed: the blocks of {} not classified into lost and still reachable, marked ? below)",
            plural(s.unclassified as u64, "process", "processes")
        );
    }
    let _ = writeln!(
        out,
        "   leaks:       {} (identical ones of several processes of a program counted once){}",
        thousands(s.total_leaks as u64),
        if s.reachable_hidden {
            "; --show-reachable for the blocks still in use"
        } else {
            ""
        }
    );
    shown_line(&mut out, s.leaks.len(), s.total_leaks, "leaks");

    let _ = writeln!(out);
    let _ = writeln!(out, "PROCESSES (leaking first, most bytes lost first)");
    let _ = writeln!(
        out,
        "{:>9}  {:>12}  {:>8}  {:>12}  {:>12}  command",
        "pid", "lost bytes", "blocks", "possibly", "reachable"
    );
    for p in &s.processes {
        let _ = writeln!(out, "{}", process_line(p, style));
    }

    if !s.leaks.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "LEAKS (biggest first)");
    }
    for (n, l) in s.leaks.iter().enumerate() {
        let _ = writeln!(out);
        let est = if l.sampled { "~" } else { "" };
        let size = site_size(l.bytes, l.indirect_bytes, l.indirect_blocks, est);
        let program = base_name(&l.exe);
        let whose = match l.pids.as_slice() {
            [pid] => format!("in {program} (pid {pid})"),
            pids => format!(
                "in {} of {program} ({} each)",
                plural(pids.len() as u64, "process", "processes"),
                each(l.each_bytes, l.each_blocks, est)
            ),
        };
        let owner = match (l.owner, l.owner_site) {
            (Some(o), Some(site)) => format!(", owned by leak {} ({})", o + 1, site_name(site)),
            (None, Some(site)) => format!(", owned by {}", site_name(site)),
            _ => String::new(),
        };
        let tail = format!("{}{owner}, {whose}", kind_words(l.site.kind));
        let number = format!("(leak {} of {})", n + 1, s.total_leaks);
        headline(&mut out, &size, l.blocks, est, &tail, &number, style);
        if l.pids.len() > 1 {
            let mut listed: Vec<String> = l
                .pids
                .iter()
                .take(PIDS_LISTED)
                .map(u32::to_string)
                .collect();
            if l.pids.len() > PIDS_LISTED {
                listed.push(format!("and {} more", l.pids.len() - PIDS_LISTED));
            }
            let _ = writeln!(
                out,
                "    {}",
                style.dim(&format!("pids {}", listed.join(", ")))
            );
        }
        stack_lines(&mut out, &l.site.frames, style);
    }
    out
}

/// "120 bytes in 1 block", or "100 to 300 bytes in 1 to 3 blocks".
fn each(bytes: (u64, u64), blocks: (u64, u64), est: &str) -> String {
    let range = |(lo, hi): (u64, u64), one: &str, many: &str| {
        if lo == hi {
            format!("{est}{}", plural(lo, one, many))
        } else {
            format!("{est}{} to {est}{}", thousands(lo), plural(hi, one, many))
        }
    };
    format!(
        "{} in {}",
        range(bytes, "byte", "bytes"),
        range(blocks, "block", "blocks")
    )
}

/// One row of the process table: pid, lost bytes and blocks, possibly lost
/// and still reachable bytes (`?` when not classified), the command line.
fn process_line(p: &Process, style: &Style) -> String {
    let a = p.analysis;
    let d = &a.input.dump;
    let est = if d.sample_bytes.is_some() { "~" } else { "" };
    let number = |n: u64| format!("{est}{}", thousands(n));
    let leaked: Amount = p.leaked();
    let Totals {
        possible,
        reachable,
        ..
    } = a.totals;
    let (possible, reachable) = if a.classified {
        (number(possible.bytes), number(reachable.bytes))
    } else {
        ("?".to_string(), "?".to_string())
    };
    let mut command = if d.process.cmdline.is_empty() {
        d.process.exe.clone()
    } else {
        d.process.cmdline.join(" ")
    };
    if command.chars().count() > COMMAND_WIDTH {
        command = command.chars().take(COMMAND_WIDTH - 1).collect::<String>() + "…";
    }
    if p.dumps > 1 {
        command.push_str(&format!("  ({} dumps: the latest)", p.dumps));
    }
    let row = format!(
        "{:>9}  {:>12}  {:>8}  {possible:>12}  {reachable:>12}  {command}",
        d.process.pid,
        number(leaked.bytes),
        number(leaked.blocks),
    );
    if leaked.blocks > 0 {
        style.bold(&row)
    } else {
        row
    }
}
