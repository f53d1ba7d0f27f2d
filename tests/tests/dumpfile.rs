//! The dump file itself: where it goes, how it is created, what it holds,
//! and what happens when it cannot be written.

use leaktrace_e2e::*;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};

const V: Variant = Variant::O2NoFramePointers;

#[test]
fn contents_describe_the_process() {
    let exe = sample("alloc_family", V);
    let run = run_traced(&exe, &[], &[]);
    let bytes = std::fs::read(run.dump()).unwrap();
    let dump = leaktrace_format::parse(&bytes).unwrap();
    let p = &dump.process;
    assert_eq!(
        p.exe,
        std::fs::canonicalize(&exe).unwrap().to_str().unwrap()
    );
    assert_eq!(p.cmdline, vec![exe.to_str().unwrap().to_string()]);
    assert_eq!(p.ppid, std::process::id());
    assert_eq!(p.trigger, leaktrace_format::Trigger::Exit);
    assert!(p.start_ns > 0 && p.start_ns <= p.dump_ns);
    assert_eq!(
        run.dump().file_name().unwrap().to_str().unwrap(),
        format!("lt.{}.bin", p.pid)
    );
    // The executable is in the module map with its build-id.
    let main = dump
        .modules
        .iter()
        .find(|m| m.path == p.exe)
        .expect("exe in module map");
    assert_eq!(main.build_id.len(), 20);
    assert!(dump.modules.iter().any(|m| m.path.contains("libc.so.6")));
    // Every block's stack is in the file.
    for b in &dump.blocks {
        assert!(dump.stacks.iter().any(|s| s.id == b.stack));
    }
    let meta = std::fs::metadata(run.dump()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("a/b/c/run");
    let out = Command::new(sample("alloc_family", V))
        .env("LD_PRELOAD", library())
        .env("LEAKTRACE_OUT", &prefix)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(dumps_in(&dir.path().join("a/b/c")).len(), 1);
}

#[test]
fn a_relative_prefix_is_resolved_where_the_program_started() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(sample("chdir_leak", V))
        .current_dir(dir.path())
        .env("LD_PRELOAD", library())
        .env("LEAKTRACE_OUT", "rel/lt")
        .output()
        .unwrap();
    assert!(out.status.success());
    let dumps = dumps_in(&dir.path().join("rel"));
    assert_eq!(dumps.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_leaks(
        &report(&dumps[0], "function"),
        &[("leak_after_chdir", 21, 1)],
        "chdir",
    );
}

#[test]
fn an_unwritable_destination_is_one_line_and_the_status_is_unchanged() {
    for prefix in ["/proc/leaktrace-no-such-dir/lt", "/etc/passwd/lt"] {
        let out = Command::new(sample("semantics", V))
            .env("LD_PRELOAD", library())
            .env("LEAKTRACE_OUT", prefix)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("leaktrace: cannot write dump "),
            "{stderr}"
        );
        assert!(stderr.contains(prefix), "{stderr}");
    }
}

/// Starts wait_stdin, lets `prepare` act on the dump directory once the pid
/// is known, then lets the program end.
fn with_pid(prepare: impl FnOnce(&std::path::Path, u32)) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(sample("wait_stdin", V))
        .env("LD_PRELOAD", library())
        .env("LEAKTRACE_OUT", dir.path().join("lt"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    prepare(dir.path(), child.id());
    child.stdin.take().unwrap().write_all(b"bye\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (dir, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_existing_dump_is_never_overwritten() {
    let mut pid = 0;
    let (dir, stderr) = with_pid(|dir, p| {
        pid = p;
        std::fs::write(dir.join(format!("lt.{p}.bin")), b"precious").unwrap();
    });
    assert_eq!(
        std::fs::read(dir.path().join(format!("lt.{pid}.bin"))).unwrap(),
        b"precious"
    );
    let next = dir.path().join(format!("lt.{pid}-1.bin"));
    assert!(next.exists(), "{stderr}");
    assert!(stderr.contains("exists; dump written to"), "{stderr}");
    assert_leaks(
        &report(&next, "function"),
        &[("leak_before_wait", 64, 1)],
        "no overwrite",
    );
}

#[test]
fn a_symlink_in_the_way_is_not_followed() {
    let target = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(target.path(), b"untouched").unwrap();
    let mut pid = 0;
    let (dir, _) = with_pid(|dir, p| {
        pid = p;
        std::os::unix::fs::symlink(target.path(), dir.join(format!("lt.{p}.bin"))).unwrap();
    });
    assert_eq!(std::fs::read(target.path()).unwrap(), b"untouched");
    let link = std::fs::symlink_metadata(dir.path().join(format!("lt.{pid}.bin"))).unwrap();
    assert!(link.file_type().is_symlink());
    let real = dir.path().join(format!("lt.{pid}-1.bin"));
    assert_eq!(
        std::fs::metadata(&real).unwrap().nlink(),
        1,
        "temporary name removed"
    );
    assert_eq!(
        dumps_in(dir.path()).len(),
        2,
        "the symlink and the dump, no temporary file"
    );
}
