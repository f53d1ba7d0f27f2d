//! `leakreport FILE...`: prints the leaks recorded in leaktrace dumps.

use clap::Parser;
use leaktrace_report::cli::ReportOptions;
use leaktrace_report::output::{self, Mode};
use std::path::PathBuf;

/// Print the heap blocks a program never freed, grouped by call site,
/// biggest first, with symbolized stacks: definitely, indirectly and
/// possibly lost ones (still reachable ones with --show-reachable).
///
/// Several dumps of one process (its snapshots) are reported as growth per
/// call site over time; --diff compares two. The dumps of more than 5
/// processes (a script, make, a test suite) are reported as a summary: one
/// line a process, leaking ones first, and the leaks of all, identical
/// leaks of many processes of one program merged with a count;
/// --processes full gives every process's whole report. --format html,
/// flamegraph, folded and pprof export the same sites.
///
/// Examples:
///   leakreport leaktrace.4242.bin
///   leakreport --group-by function --top 10 leaktrace.4242.bin
///   leakreport leaktrace.4242.*.bin                  # growth over snapshots
///   leakreport leaktrace.*.bin                       # many processes: a summary
///   leakreport --format html leaktrace.4242.bin > report.html
///   leakreport --fail-on definite,indirect leaktrace.*.bin   # for CI
///
/// Exit status: 0 when every file was read and symbolized; 2 when a file is
/// missing, truncated, corrupt or of an unsupported version, when a binary
/// of the traced program is missing or was rebuilt (the report is still
/// printed, with such frames as module+offset), or when a suppressions file
/// is bad; 23 when --fail-on finds leaks; 74 when the report could not be
/// written (a full disk, an I/O error; a closed pipe, as with `| head`, is
/// not an error).
#[derive(Parser)]
#[command(name = "leakreport", version, verbatim_doc_comment)]
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
