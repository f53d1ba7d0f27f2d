//! `leakreport FILE...`: prints the leaks recorded in leaktrace dumps.

use clap::Parser;
use leaktrace_report::cli::ReportOptions;
use leaktrace_report::output::{self, Mode};
use std::path::PathBuf;

/// Print the heap blocks a program never freed, grouped by call site,
/// biggest first, with symbolized stacks.
///
/// Exit status: 0 when every file was read and symbolized; 2 when a file is
/// missing, truncated, corrupt or of an unsupported version, or when a
/// binary of the traced program is missing or was rebuilt (the report is
/// still printed, with such frames as module+offset).
#[derive(Parser)]
#[command(name = "leakreport", version)]
struct Args {
    #[command(flatten)]
    report: ReportOptions,
    /// Compare two dumps: the call sites that are new or grown in the
    /// second, by bytes added.
    #[arg(long)]
    diff: bool,
    /// Dump files written by libleaktrace.so (leaktrace.<pid>.bin, and
    /// snapshots leaktrace.<pid>.<k>.bin). Several dumps of one process are
    /// reported as growth over time.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let mode = if args.diff {
        if args.files.len() != 2 {
            eprintln!("leakreport: --diff takes exactly two dump files (before, after)");
            std::process::exit(leaktrace_report::EXIT_BAD_INPUT);
        }
        Mode::Diff
    } else {
        Mode::Report
    };
    let status = output::report_to_stdout("leakreport", &args.files, &args.report, mode);
    std::process::exit(status);
}
