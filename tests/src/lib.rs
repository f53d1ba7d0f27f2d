//! Helpers for the end-to-end tests: build a sample, run it under
//! `libleaktrace.so`, read the report as JSON.
//!
//! The tests use the release artifacts because that is what users run.
//! The first call for one of them in a test process builds them
//! (`cargo build --release -p leaktrace-preload -p leaktrace-report`), so a
//! test never runs a stale library: cargo's own lock serializes the builds
//! of test binaries running in parallel, and a build with nothing to do
//! takes a tenth of a second.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where cargo puts the artifacts: `$CARGO_TARGET_DIR` or `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root().join(d),
        _ => root().join("target"),
    }
}

static BUILD_RELEASE: OnceLock<Result<(), String>> = OnceLock::new();

/// Builds the library and both binaries from the sources as they are now,
/// once per test process. `$CARGO` is set by `cargo test`. A failed build
/// fails every test that needs the artifacts, each with the compiler's
/// message.
fn build_release() {
    let result = BUILD_RELEASE.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(&cargo)
            .current_dir(root())
            .args(["build", "--release", "--quiet"])
            .args(["-p", "leaktrace-preload", "-p", "leaktrace-report"])
            .arg("--target-dir")
            .arg(target_dir())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "building the release artifacts failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn release(name: &str) -> PathBuf {
    build_release();
    let p = target_dir().join("release").join(name);
    assert!(p.exists(), "{} is missing after the build", p.display());
    p
}

pub fn library() -> PathBuf {
    release("libleaktrace.so")
}
pub fn leakreport() -> PathBuf {
    release("leakreport")
}
pub fn leaktrace() -> PathBuf {
    release("leaktrace")
}

/// How a sample is compiled. Every accuracy test runs on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// -O1 with frame pointers.
    O1FramePointers,
    /// -O2 without frame pointers, as distributions build.
    O2NoFramePointers,
}

pub const VARIANTS: [Variant; 2] = [Variant::O1FramePointers, Variant::O2NoFramePointers];

impl Variant {
    fn flags(self) -> &'static [&'static str] {
        match self {
            Variant::O1FramePointers => &["-O1", "-fno-omit-frame-pointer"],
            Variant::O2NoFramePointers => &["-O2", "-fomit-frame-pointer"],
        }
    }
    fn dir(self) -> &'static str {
        match self {
            Variant::O1FramePointers => "O1-fp",
            Variant::O2NoFramePointers => "O2-nofp",
        }
    }
}

static BUILT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Compiles `c-samples/<source>` (C or C++ by extension) into
/// `target/samples/<variant>/<output>`, once per test process.
pub fn build(source: &str, output: &str, variant: Variant, extra: &[&str]) -> PathBuf {
    let dir = root().join("target/samples").join(variant.dir());
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(output);
    let mut built = BUILT.lock().unwrap();
    if built.contains(&out) {
        return out;
    }
    let src = root().join("c-samples").join(source);
    let compiler = if source.ends_with(".cpp") {
        "c++"
    } else {
        "cc"
    };
    // Build under a private name and rename: test binaries run in parallel.
    let tmp = dir.join(format!(".{output}.{}", std::process::id()));
    let status = Command::new(compiler)
        .args(variant.flags())
        .args(["-g", "-Wall", "-o"])
        .arg(&tmp)
        .arg(&src)
        .args(extra)
        .args(["-pthread", "-ldl"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(status.success(), "compiling {} failed", src.display());
    std::fs::rename(&tmp, &out).unwrap();
    built.push(out.clone());
    out
}

/// Compiles `c-samples/<name>.rs` with rustc.
pub fn rust_sample(name: &str, variant: Variant) -> PathBuf {
    let dir = root().join("target/samples").join(variant.dir());
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    let mut built = BUILT.lock().unwrap();
    if built.contains(&out) {
        return out;
    }
    let flags: &[&str] = match variant {
        Variant::O1FramePointers => &["-C", "opt-level=1", "-C", "force-frame-pointers=yes"],
        Variant::O2NoFramePointers => &["-C", "opt-level=2"],
    };
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let status = Command::new("rustc")
        .args(flags)
        .args(["-g", "-o"])
        .arg(&tmp)
        .arg(root().join("c-samples").join(format!("{name}.rs")))
        .status()
        .expect("cannot run rustc");
    assert!(status.success(), "compiling {name}.rs failed");
    std::fs::rename(&tmp, &out).unwrap();
    built.push(out.clone());
    out
}

/// Builds a sample program `c-samples/<name>.c` (or `.cpp`).
pub fn sample(name: &str, variant: Variant) -> PathBuf {
    let source = if root()
        .join("c-samples")
        .join(format!("{name}.cpp"))
        .exists()
    {
        format!("{name}.cpp")
    } else {
        format!("{name}.c")
    };
    build(&source, name, variant, &[])
}

/// A traced run: the program's output and the dumps it left.
pub struct Run {
    pub output: Output,
    pub dumps: Vec<PathBuf>,
    /// Keeps the dump directory alive as long as the run.
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    /// The one dump of a single-process run.
    pub fn dump(&self) -> &Path {
        assert_eq!(
            self.dumps.len(),
            1,
            "expected one dump, found {:?}; stderr: {}",
            self.dumps,
            self.stderr()
        );
        &self.dumps[0]
    }
}

/// The `.bin` files in `dir`, sorted.
pub fn dumps_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    v.sort();
    v
}

/// The final dumps (`lt.<pid>.bin`, not snapshots `lt.<pid>.<k>.bin`)
/// among `dumps`.
pub fn final_dumps(dumps: &[PathBuf]) -> Vec<&PathBuf> {
    dumps
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.matches('.').count() == 2
        })
        .collect()
}

/// Runs `exe args` with the library preloaded and dumps going to a fresh
/// directory (`LEAKTRACE_OUT=<dir>/lt`).
pub fn run_traced(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(exe)
        .args(args)
        .env("LD_PRELOAD", library())
        .env("LEAKTRACE_OUT", dir.path().join("lt"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let dumps = dumps_in(dir.path());
    Run { output, dumps, dir }
}

/// Runs leakreport; returns (exit code, stdout, stderr).
pub fn leakreport_raw(args: &[&str], files: &[&Path]) -> (i32, String, String) {
    let out = Command::new(leakreport())
        .args(args)
        .args(files)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON report of one dump, grouped as `group_by` says: every block
/// live at the dump, whatever its kind, nothing suppressed.
pub fn report(dump: &Path, group_by: &str) -> Value {
    let (code, stdout, stderr) = leakreport_raw(
        &[
            "--format",
            "json",
            "--group-by",
            group_by,
            "--show-reachable",
            "--no-default-suppressions",
        ],
        &[dump],
    );
    assert_eq!(code, 0, "leakreport failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

/// function → (bytes, blocks), from a report grouped by function, summed
/// over the kinds (a function's blocks may be lost and still reachable).
pub fn by_function(report: &Value) -> HashMap<String, (u64, u64)> {
    let mut out: HashMap<String, (u64, u64)> = HashMap::new();
    for s in report["sites"].as_array().unwrap() {
        let name = s["function"].as_str().unwrap_or("(unknown)").to_string();
        let e = out.entry(name).or_default();
        e.0 += s["bytes"].as_u64().unwrap();
        e.1 += s["blocks"].as_u64().unwrap();
    }
    out
}

/// (function, kind) → bytes, from a report grouped by function.
pub fn by_function_and_kind(report: &Value) -> HashMap<(String, String), u64> {
    let mut out: HashMap<(String, String), u64> = HashMap::new();
    for s in report["sites"].as_array().unwrap() {
        let name = s["function"].as_str().unwrap_or("(unknown)").to_string();
        let kind = s["kind"].as_str().unwrap().to_string();
        *out.entry((name, kind)).or_default() += s["bytes"].as_u64().unwrap();
    }
    out
}

/// Every function name that appears in any frame of any site.
pub fn all_functions(report: &Value) -> Vec<String> {
    report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["frames"].as_array().unwrap().iter())
        .filter_map(|f| f["function"].as_str().map(str::to_string))
        .collect()
}

/// Asserts exact bytes and blocks for each named function, and that no
/// function whose name starts with `clean` appears anywhere.
pub fn assert_leaks(report: &Value, expected: &[(&str, u64, u64)], context: &str) {
    let got = by_function(report);
    for &(name, bytes, blocks) in expected {
        assert_eq!(
            got.get(name).copied(),
            Some((bytes, blocks)),
            "{context}: {name} should leak {bytes} bytes in {blocks} blocks; sites: {got:?}"
        );
    }
    let clean: Vec<String> = all_functions(report)
        .into_iter()
        .filter(|f| f.starts_with("clean"))
        .collect();
    assert!(
        clean.is_empty(),
        "{context}: clean functions appear in the report: {clean:?}"
    );
}

/// Starts `command` traced, dumps going to `dir/lt`, and returns it with
/// the first line it prints (a program that waits says when it is ready).
///
/// The signals the tests send start at their default action in the child:
/// an ignored disposition survives exec, and a test run under `nohup`
/// (SIGHUP ignored) or as a background job of a shell without job control
/// (SIGINT ignored) would otherwise wait for a death that never comes.
pub fn spawn_traced(mut command: Command, dir: &Path, env: &[(&str, &str)]) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    command
        .env("LD_PRELOAD", library())
        .env("LEAKTRACE_OUT", dir.join("lt"))
        .envs(env.iter().copied())
        .stdout(Stdio::piped());
    // SAFETY: between fork and exec the closure only calls signal(2),
    // which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            for sig in [
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGUSR1,
                libc::SIGUSR2,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}
