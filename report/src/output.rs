//! Printing reports for a list of dump files: the part both binaries share.

use crate::analysis::{analyse, Analysis};
use crate::cli::{Color, Format, ReportOptions};
use crate::{input, json, text, EXIT_BAD_INPUT};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Reports every file onto `out`. Problems go to stderr, one line each,
/// prefixed with `tool`. Returns the exit status: 0, or 2 when a file could
/// not be read or a binary could not be symbolized.
pub fn report_files(
    tool: &str,
    files: &[PathBuf],
    options: &ReportOptions,
    out: &mut dyn Write,
    out_is_tty: bool,
) -> i32 {
    let mut status = 0;
    let mut analyses: Vec<Analysis> = Vec::new();
    for path in files {
        match input::read(path) {
            Ok(i) => {
                let a = analyse(i, options);
                for w in &a.warnings {
                    eprintln!("{tool}: {}: {w}", a.input.path);
                }
                if a.incomplete {
                    status = EXIT_BAD_INPUT;
                }
                analyses.push(a);
            }
            Err(e) => {
                eprintln!("{tool}: {e}");
                status = EXIT_BAD_INPUT;
            }
        }
    }
    let rendered = match options.format {
        Format::Json if analyses.is_empty() => String::new(),
        Format::Json => json::render(&analyses) + "\n",
        Format::Text => {
            let style = text::Style {
                on: match options.color {
                    Color::Always => true,
                    Color::Never => false,
                    Color::Auto => out_is_tty && std::env::var_os("NO_COLOR").is_none(),
                },
            };
            analyses
                .iter()
                .map(|a| text::render(a, &style))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    // A closed pipe (`leakreport ... | head`) is not an error worth a panic.
    let _ = out.write_all(rendered.as_bytes()).and_then(|_| out.flush());
    status
}

/// Reports onto stdout.
pub fn report_to_stdout(tool: &str, files: &[PathBuf], options: &ReportOptions) -> i32 {
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut lock = stdout.lock();
    report_files(tool, files, options, &mut lock, tty)
}
