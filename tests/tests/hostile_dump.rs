//! A dump is input from someone else: leakreport opens the files its
//! modules name. A FIFO, a directory, a device or a file that is no ELF
//! must neither block nor be read whole: each gives one warning naming the
//! cause, its frames are shown as module+offset, the rest of the report is
//! whole, and the exit status says it is incomplete (2).

use leaktrace_e2e::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A real dump of alloc_family whose main program module is renamed to
/// `path`.
fn dump_naming(dir: &Path, path: &str) -> std::path::PathBuf {
    let run = run_traced(&sample("alloc_family", Variant::O1FramePointers), &[], &[]);
    let bytes = std::fs::read(run.dump()).unwrap();
    let mut dump = leaktrace_format::parse(&bytes).unwrap();
    let exe = dump.process.exe.clone();
    let module = dump
        .modules
        .iter_mut()
        .find(|m| m.path == exe)
        .expect("the program's own module");
    module.path = path.to_string();
    module.build_id.clear();
    let out = dir.join("renamed.bin");
    let file = std::fs::File::create(&out).unwrap();
    leaktrace_format::write_dump(&dump, file).unwrap();
    out
}

/// Runs leakreport on `dump`, killing it after 30 s; returns
/// (status, stdout, stderr).
fn leakreport_bounded(dump: &Path) -> (i32, String, String) {
    let mut child = Command::new(leakreport())
        .arg(dump)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("leakreport blocked on {}", dump.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(path: &str, cause: &str) {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump_naming(dir.path(), path);
    let (code, out, err) = leakreport_bounded(&dump);
    assert_eq!(code, 2, "{err}");
    let warning = format!("cannot read {path}: it is {cause}, not a binary");
    assert_eq!(
        err.lines().filter(|l| l.contains(&warning)).count(),
        1,
        "one warning naming the cause: {err}"
    );
    // The report is whole: the leaks of the program, their frames in its
    // code as module+offset, libc's still named.
    assert!(out.contains("definitely lost: "), "{out}");
    let base = path.rsplit('/').next().unwrap();
    assert!(out.contains(&format!("???  {base}+0x")), "{out}");
    assert!(!out.contains("leak_malloc"), "{out}");
}

#[test]
fn a_fifo_is_not_opened_for_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("prog");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_refused(fifo.to_str().unwrap(), "a FIFO");
}

#[test]
fn a_directory_a_device_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(dir.path().to_str().unwrap(), "a directory");
    assert_refused("/dev/zero", "a device");
}

#[test]
fn a_huge_file_that_is_no_elf_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge");
    // 64 GiB, sparse: reading it whole would take minutes and all memory.
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(64 << 30).unwrap();
    let dump = dump_naming(dir.path(), huge.to_str().unwrap());
    let (code, out, err) = leakreport_bounded(&dump);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "cannot read {}: not a readable ELF file",
            huge.display()
        )),
        "{err}"
    );
    assert!(out.contains("???  huge+0x"), "{out}");
}
