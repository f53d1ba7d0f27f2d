//! A report that cannot be written fails the run (issue 17, point 5):
//! `leakreport … > /dev/full` and the launcher's likewise exit 74 with one
//! line on stderr; a closed pipe (`| head -c1`) stays quiet and exits as
//! the report would have.

mod common;

use common::Fake;
use leaktrace_format::{write_dump, Kind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const LEAKREPORT: &str = env!("CARGO_BIN_EXE_leakreport");
const LEAKTRACE: &str = env!("CARGO_BIN_EXE_leaktrace");

/// Dumps of `n` processes, each losing 100 bytes, in `dir`.
fn dumps(dir: &Path, n: u32) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let d = Fake::new(1000 + i, "/bin/app", 1)
                .stack(1, &[0x10])
                .blocks(1, 100, 1, Kind::Definite, 0)
                .written();
            let path = dir.join(format!("lt.{}.bin", 1000 + i));
            std::fs::write(&path, write_dump(&d, Vec::new()).unwrap()).unwrap();
            path
        })
        .collect()
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_full_disk_fails_leakreport() {
    let dir = tempfile::tempdir().unwrap();
    for (n, format) in [(1, "text"), (20, "text"), (20, "json"), (2, "html")] {
        let out = Command::new(LEAKREPORT)
            .args(["--format", format])
            .args(dumps(dir.path(), n))
            .stdout(dev_full())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(74), "{format}: {err}");
        assert_eq!(
            err,
            "leakreport: cannot write the report: No space left on device (os error 28)\n"
        );
    }
}

#[test]
fn a_closed_pipe_is_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let files = dumps(dir.path(), 300);
    // The reader is gone before anything is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(LEAKREPORT)
        .args(&files)
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // As a shell pipes it: `leakreport … | head -c1`.
    let out = Command::new("bash")
        .arg("-c")
        .arg("\"$0\" --processes full \"$@\" | head -c1; exit ${PIPESTATUS[0]}")
        .arg(LEAKREPORT)
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(out.stdout, b"l");
}

#[test]
fn a_full_disk_fails_the_launcher_unless_the_program_failed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |program: &str| {
        Command::new(LEAKTRACE)
            .arg("--dump-dir")
            .arg(dir.path())
            .arg("--")
            .arg(program)
            .stdout(dev_full())
            .output()
            .unwrap()
    };
    let out = run("/bin/true");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(74), "{err}");
    assert!(
        err.starts_with("leaktrace: cannot write the report: No space left on device"),
        "{err}"
    );
    // The program's own failure comes first.
    let out = run("/bin/false");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // A closed pipe: the program's status.
    let out = Command::new("bash")
        .arg("-c")
        .arg("\"$0\" --dump-dir \"$1\" -- /bin/true | head -c1; exit ${PIPESTATUS[0]}")
        .arg(LEAKTRACE)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("cannot write"), "{}", stderr(&out));
}
