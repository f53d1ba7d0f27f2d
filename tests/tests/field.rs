//! What a new user meets on real programs (issue 17): a dump with no live
//! block says it was classified; signals a program sends itself are not
//! snapshot requests.

use leaktrace_e2e::*;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

const V: Variant = Variant::O2NoFramePointers;

/// A program that frees everything: its exit dump has no block, and the
/// report says it was classified (no "not classified" line), in text and
/// JSON; with `LEAKTRACE_CLASSIFY=0` it says it was not.
#[test]
fn an_exit_dump_with_no_blocks_is_classified() {
    let exe = sample("frees_all", V);
    let run = run_traced(&exe, &[], &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let d = leaktrace_format::parse(&std::fs::read(run.dump()).unwrap()).unwrap();
    assert!(d.blocks.is_empty() && d.classified, "{d:?}");
    assert_eq!(d.totals.allocations, 64);
    let (code, text, err) = leakreport_raw(&[], &[run.dump()]);
    assert_eq!(code, 0, "{err}");
    assert!(!text.contains("not classified"), "{text}");
    let json = report(run.dump(), "stack");
    assert_eq!(json["totals"]["classified"], true, "{json}");

    let run = run_traced(&exe, &[], &[("LEAKTRACE_CLASSIFY", "0")]);
    let d = leaktrace_format::parse(&std::fs::read(run.dump()).unwrap()).unwrap();
    assert!(!d.classified);
    let (_, text, _) = leakreport_raw(&[], &[run.dump()]);
    assert!(text.contains("not classified"), "{text}");
}

/// SIGUSR1 a thread sends another thread of its process (`pthread_kill`, as
/// rustc and cargo do) or the process itself (`kill(getpid())`) goes to the
/// program's handler, every one of them, and asks for no snapshot.
#[test]
fn signals_a_program_sends_itself_are_not_snapshot_requests() {
    let exe = sample("self_signal", V);
    let run = run_traced(&exe, &["threads", "25"], &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(run.stdout().trim(), "count=50");
    // The exit dump only: no snapshot.
    assert_eq!(run.dumps.len(), 1, "{:?}", run.dumps);
    assert_eq!(final_dumps(&run.dumps).len(), 1);
}

/// A program with no handler that raises SIGUSR1 dies of it, as without
/// the tracker (the tracker's handler used to swallow it).
#[test]
fn a_self_sent_signal_with_no_handler_kills_as_natively() {
    let exe = sample("self_signal", V);
    let native = Command::new(&exe).arg("raise").output().unwrap();
    assert_eq!(native.status.signal(), Some(libc::SIGUSR1));
    let run = run_traced(&exe, &["raise"], &[]);
    assert_eq!(
        run.output.status.signal(),
        Some(libc::SIGUSR1),
        "{}",
        run.stderr()
    );
    assert_eq!(run.stdout(), "");
    // It died as SIGTERM does: with a final dump, and no snapshot.
    assert_eq!(final_dumps(&run.dumps).len(), 1, "{:?}", run.dumps);
    assert_eq!(run.dumps.len(), 1, "{:?}", run.dumps);
}

/// SIGUSR1 from another process (`kill -USR1`) still takes a snapshot, and
/// the program's handler still runs once.
#[test]
fn a_signal_from_outside_still_snapshots() {
    let exe = sample("self_signal", V);
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(&exe);
    command.arg("wait");
    let (mut child, line) = spawn_traced(command, dir.path(), &[]);
    assert_eq!(line.trim(), "ready");
    let status = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the program did not end");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(out.trim(), "count=1");
    let pid = child.id();
    let dumps = dumps_in(dir.path());
    let snapshot = dir.path().join(format!("lt.{pid}.1.bin"));
    assert!(dumps.contains(&snapshot), "{dumps:?}");
    assert_eq!(dumps.len(), 2, "{dumps:?}");
}

/// A program that defines malloc, free, calloc and realloc itself: the
/// library never sees its allocations, and says so on stderr at start,
/// in the dump and in the report (text and JSON), naming the program.
#[test]
fn a_program_with_its_own_malloc_is_said_not_traced() {
    let exe = sample("own_malloc", V);
    let real = std::fs::canonicalize(&exe).unwrap();
    let real = real.to_str().unwrap();
    let run = run_traced(&exe, &[], &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(run.stdout(), "allocated\n");
    let line = format!(
        "leaktrace: {real} defines malloc, free, calloc, realloc ahead of libleaktrace.so: \
         the allocations made through them are not traced\n"
    );
    assert_eq!(run.stderr(), line);
    let d = leaktrace_format::parse(&std::fs::read(run.dump()).unwrap()).unwrap();
    let o = d.other_malloc.expect("the allocator record");
    assert_eq!(o.module, real);
    assert_eq!(o.functions, ["malloc", "free", "calloc", "realloc"]);
    let (code, text, err) = leakreport_raw(&["--color", "never"], &[run.dump()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!("not traced: {real} defines malloc")),
        "{text}"
    );
    let json = report(run.dump(), "stack");
    assert_eq!(json["own_malloc"], real, "{json}");
    // A program using libc's malloc gets no such line.
    let run = run_traced(&sample("frees_all", V), &[], &[]);
    assert_eq!(run.stderr(), "");
    assert!(report(run.dump(), "stack")["own_malloc"].is_null());
}

/// A program switching SIGUSR1 between a handler and SIG_IGN while a
/// thread raises it never meets the default action it never set (CPython's
/// test_stress_modifying_handlers died of SIGUSR1 under the tracker when
/// the disposition was read twice in one delivery).
#[test]
fn switching_a_handler_and_sig_ign_never_kills() {
    let exe = sample("handler_cycling", V);
    let native = Command::new(&exe).output().unwrap();
    assert!(native.status.success(), "natively: {native:?}");
    for _ in 0..5 {
        let run = run_traced(&exe, &[], &[]);
        assert!(
            run.output.status.success(),
            "{:?}: {}",
            run.output.status,
            run.stderr()
        );
        assert_eq!(run.stdout().trim(), "ok handled=yes");
        assert_eq!(run.dumps.len(), 1, "no snapshot: {:?}", run.dumps);
    }
}
