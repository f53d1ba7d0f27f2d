//! Printing reports for a list of dump files: the part both binaries share.
//!
//! Dumps of one process (same pid and start time) given together form a
//! series, reported as growth over time ([`series`]); any other dump gets
//! its own report. `--diff` compares two dumps ([`diff`]).

use crate::analysis::{analyse_with, fails, Analysis, Depth};
use crate::cli::{Color, Format, ReportOptions};
use crate::collate::group_in_order;
use crate::symbolize::ObjectCache;
use crate::{
    diff, folded, html, input, json, json_growth, json_processes, pprof, processes, series, text,
    text_growth, text_processes, EXIT_BAD_INPUT, EXIT_CANNOT_WRITE, EXIT_LEAKS,
};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// What to print for the files given.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A report per process; growth for several dumps of one.
    Report,
    /// What grew from the first file to the second.
    Diff,
}

/// Reads and analyses every file; problems go to stderr, one line each.
/// Returns the analyses and whether anything was missing.
///
/// Memory stays bounded by the biggest dump and the distinct objects: files
/// are symbolized through one [`ObjectCache`], and a dump that is its
/// process's only one builds ([`Depth::Printed`]) and keeps whole stacks
/// only for the sites it prints. A
/// process with several dumps is a series over all its sites: those dumps
/// are analysed again, whole, once every file has been read.
fn analyse_all(
    tool: &str,
    files: &[PathBuf],
    options: &ReportOptions,
    mode: Mode,
) -> (Vec<Analysis>, bool) {
    let suppressions = match options.suppressions() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{tool}: {e}");
            return (Vec::new(), true);
        }
    };
    let slim = mode == Mode::Report;
    let mut incomplete = false;
    let mut analyses = Vec::new();
    let mut objects = ObjectCache::new(options.debug_roots());
    for path in files {
        match input::read(path) {
            Ok(i) => {
                let depth = if slim { Depth::Printed } else { Depth::Full };
                let mut a = analyse_with(i, options, &suppressions, &mut objects, depth);
                for w in &a.warnings {
                    eprintln!("{tool}: {}: {w}", a.input.path);
                }
                incomplete |= a.incomplete;
                if slim {
                    a.drop_hidden_stacks();
                }
                analyses.push((path, a));
            }
            Err(e) => {
                eprintln!("{tool}: {e}");
                incomplete = true;
            }
        }
    }
    if slim {
        let mut dumps_of: HashMap<(u32, u64), usize> = HashMap::new();
        for (_, a) in &analyses {
            *dumps_of.entry(process_key(a)).or_default() += 1;
        }
        for (path, a) in &mut analyses {
            if dumps_of[&process_key(a)] > 1 {
                // Read fine a moment ago; its problems were said then.
                if let Ok(i) = input::read(path) {
                    *a = analyse_with(i, options, &suppressions, &mut objects, Depth::Full);
                }
            }
        }
    }
    (analyses.into_iter().map(|(_, a)| a).collect(), incomplete)
}

/// Which process a dump is of: its pid and when it started.
fn process_key(a: &Analysis) -> (u32, u64) {
    let p = &a.input.dump.process;
    (p.pid, p.start_ns)
}

/// One thing to print: a dump's report, or a process's series.
enum Item<'a> {
    Single(&'a Analysis),
    Series(series::Series),
}

/// Groups the analyses by process, in the order processes first appear;
/// a process with several dumps becomes a series in time order.
fn items<'a>(analyses: &'a [Analysis], options: &ReportOptions) -> Vec<Item<'a>> {
    group_in_order(analyses, |a| processes::identity(a))
        .into_iter()
        .map(|mut group| {
            if group.len() == 1 {
                return Item::Single(group[0]);
            }
            group.sort_by_key(|a| a.input.dump.process.dump_ns);
            Item::Series(series::build(&group, options.group_by, options.cut()))
        })
        .collect()
}

fn style(options: &ReportOptions, out_is_tty: bool) -> text::Style {
    text::Style {
        on: match options.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => out_is_tty && std::env::var_os("NO_COLOR").is_none(),
        },
    }
}

/// Reports `files` onto `out`, prefixing problems with `tool`. Returns the
/// exit status: 74 when the report could not be written (but to a closed
/// pipe), else 2 when a file could not be read or a binary could not be
/// symbolized, else 23 when `--fail-on` finds leaks, else 0.
pub fn report_files(
    tool: &str,
    files: &[PathBuf],
    options: &ReportOptions,
    mode: Mode,
    out: &mut dyn Write,
    out_is_tty: bool,
) -> i32 {
    let (analyses, incomplete) = analyse_all(tool, files, options, mode);
    let status = if incomplete {
        EXIT_BAD_INPUT
    } else if mode == Mode::Report && analyses.iter().any(|a| fails(a, &options.fail_on)) {
        EXIT_LEAKS
    } else {
        0
    };
    let style = style(options, out_is_tty);
    let rendered = match mode {
        Mode::Diff => render_diff(&analyses, options, &style),
        Mode::Report => render_report(&analyses, options, &style),
    };
    let rendered = match rendered {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{tool}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    match out.write_all(&rendered).and_then(|_| out.flush()) {
        Ok(()) => status,
        // A closed pipe (`leakreport ... | head`): the reader has had
        // what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            eprintln!("{tool}: cannot write the report: {e}");
            EXIT_CANNOT_WRITE
        }
    }
}

fn render_diff(
    analyses: &[Analysis],
    options: &ReportOptions,
    style: &text::Style,
) -> Result<Vec<u8>, String> {
    let [before, after] = analyses else {
        // A file that could not be read was reported already.
        return Ok(Vec::new());
    };
    let d = diff::build(before, after, options.group_by, options.cut());
    Ok(match options.format {
        Format::Json => pretty(&json_growth::diff(&d)) + "\n",
        Format::Text => text_growth::render_diff(&d, style),
        _ => return Err("--diff prints text or json".to_string()),
    }
    .into_bytes())
}

fn render_report(
    analyses: &[Analysis],
    options: &ReportOptions,
    style: &text::Style,
) -> Result<Vec<u8>, String> {
    let title = "leaktrace: bytes not freed, by stack";
    let processes = group_in_order(analyses, |a| processes::identity(a)).len();
    if processes > 0
        && matches!(options.format, Format::Text | Format::Json)
        && options.processes.summary_for(processes)
    {
        let s = processes::build(analyses, options.group_by, options.cut());
        return Ok(match options.format {
            Format::Json => pretty(&json_processes::summary(&s)) + "\n",
            _ => text_processes::render(&s, style),
        }
        .into_bytes());
    }
    let items = items(analyses, options);
    Ok(match options.format {
        Format::Json if items.is_empty() => Vec::new(),
        Format::Json => {
            let values = json_items(&items);
            let body = match values.as_slice() {
                [one] => pretty(one),
                many => pretty(&many),
            };
            (body + "\n").into_bytes()
        }
        Format::Text => items
            .iter()
            .map(|item| match item {
                Item::Single(a) => text::render(a, style),
                Item::Series(s) => text_growth::render_series(s, style),
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
        Format::Folded => {
            let mut text = folded::lines(analyses).join("\n");
            text.push('\n');
            text.into_bytes()
        }
        Format::Flamegraph => folded::flamegraph(&folded::lines(analyses), title)?.into_bytes(),
        Format::Html => {
            let svg = folded::flamegraph(&folded::lines(analyses), title)?;
            html::page(&json_items(&items), Some(svg))?.into_bytes()
        }
        Format::Pprof => pprof::profile(analyses)?,
    })
}

fn json_items(items: &[Item]) -> Vec<json_growth::JsonItem> {
    items
        .iter()
        .map(|item| match item {
            Item::Single(a) => json_growth::JsonItem::Report(Box::new(json::report(a))),
            Item::Series(s) => json_growth::JsonItem::Growth(json_growth::series(s)),
        })
        .collect()
}

fn pretty<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Reports onto stdout.
pub fn report_to_stdout(tool: &str, files: &[PathBuf], options: &ReportOptions, mode: Mode) -> i32 {
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut lock = stdout.lock();
    report_files(tool, files, options, mode, &mut lock, tty)
}
