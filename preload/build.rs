//! Compiles the one C file of the library: the per-thread state, which must
//! live in initial-exec TLS (stable Rust cannot ask for that TLS model, and
//! the default model calls `__tls_get_addr`, which may call malloc).
fn main() {
    println!("cargo:rerun-if-changed=src/thread_state.c");
    cc::Build::new()
        .file("src/thread_state.c")
        .flag_if_supported("-ftls-model=initial-exec")
        .compile("leaktrace_thread_state");
    static_unwinder();
}

/// Links libgcc's unwinder (`libgcc_eh.a`, which Rust's panics use) into
/// the library instead of loading `libgcc_s.so.1` with it: in a program
/// that does not load libgcc_s itself (C programs: the shell, coreutils)
/// loading it cost every traced process about 0.15 ms, most of it the
/// `cpuid` instructions of its constructor, slow in a virtual machine. Its
/// symbols stay local to the library (only the interposed functions are
/// exported), so the program's own unwinder is untouched. Without the
/// archive the build links libgcc_s as before.
fn static_unwinder() {
    let Ok(out) = std::process::Command::new("cc")
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if let (true, Some(dir)) = (path.is_absolute() && path.exists(), path.parent()) {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=gcc_eh");
    }
}
