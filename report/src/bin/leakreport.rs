//! `leakreport FILE...`: prints the leaks recorded in leaktrace dumps.

use clap::Parser;
use leaktrace_report::cli::ReportOptions;
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
    /// Dump files written by libleaktrace.so (leaktrace.<pid>.bin).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let status =
        leaktrace_report::output::report_to_stdout("leakreport", &args.files, &args.report);
    std::process::exit(status);
}
