//! `leaktrace [options] -- PROGRAM ARGS...`: run, then report.

use clap::Parser;
use leaktrace_report::cli::ReportOptions;
use leaktrace_report::launch;
use leaktrace_report::output::Mode;
use std::ffi::OsString;
use std::path::PathBuf;

/// Run PROGRAM with libleaktrace.so preloaded, then print the leaks of
/// every process it produced (each one's final dump, or its latest
/// snapshot). The dumps stay in a fresh directory, named on stderr.
///
/// Examples:
///   leaktrace ./a.out args
///   leaktrace --group-by function -- ./server --port 8080
///   leaktrace --format html -- make test > leaks.html
///   leaktrace --fail-on definite -- ./unit-tests      # for CI
///
/// A run of more than 5 processes (a script, make, a test suite) is
/// reported as a summary: one line a process, leaking ones first, and the
/// leaks of all, identical leaks of many processes of one program merged;
/// --processes full gives every process's whole report.
///
/// Exit status: the program's own (a program killed by a signal makes
/// leaktrace die of the same signal); when the program exited 0, 74 when
/// the report could not be written (a full disk; a closed pipe is not an
/// error) and 23 when --fail-on finds leaks; 2 when the library or the
/// program cannot be found.
#[derive(Parser)]
#[command(name = "leaktrace", version, verbatim_doc_comment)]
struct Args {
    #[command(flatten)]
    report: ReportOptions,
    /// Put the run's dumps in a fresh directory under DIR (default: the
    /// system's temporary directory). The dumps are kept.
    #[arg(long, value_name = "DIR")]
    dump_dir: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    command: Vec<OsString>,
}

fn fail(msg: &str) -> ! {
    eprintln!("leaktrace: {msg}");
    std::process::exit(leaktrace_report::EXIT_BAD_INPUT);
}

fn main() {
    let args = Args::parse();
    let library = launch::find_library().unwrap_or_else(|e| fail(&e));
    let dir = launch::fresh_dir(args.dump_dir.as_deref()).unwrap_or_else(|e| fail(&e));
    let (program, rest) = args
        .command
        .split_first()
        .unwrap_or_else(|| fail("no program given"));
    let outcome = launch::run(&library, &dir, program, rest).unwrap_or_else(|e| fail(&e));

    let dumps = launch::final_dumps_in(&dir);
    let mut report_status = 0;
    if dumps.is_empty() {
        eprintln!(
            "leaktrace: no dump was written in {} (the program was killed, or never started)",
            dir.display()
        );
    } else {
        report_status = leaktrace_report::output::report_to_stdout(
            "leaktrace",
            &dumps,
            &args.report,
            Mode::Report,
        );
        eprintln!("leaktrace: dumps kept in {}", dir.display());
    }
    if let Some(sig) = outcome.signal {
        // Die of the same signal, so the caller sees what the program did.
        // SAFETY: resetting a signal to its default and raising it.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
    // The program's own failure comes first; then a report that could not
    // be written, then leaks `--fail-on` counts.
    let passed_on = [
        leaktrace_report::EXIT_CANNOT_WRITE,
        leaktrace_report::EXIT_LEAKS,
    ];
    if outcome.code == 0 && passed_on.contains(&report_status) {
        std::process::exit(report_status);
    }
    std::process::exit(outcome.code);
}
