//! Compiles the one C file of the library: the per-thread state, which must
//! live in initial-exec TLS (stable Rust cannot ask for that TLS model, and
//! the default model calls `__tls_get_addr`, which may call malloc).
fn main() {
    println!("cargo:rerun-if-changed=src/thread_state.c");
    cc::Build::new()
        .file("src/thread_state.c")
        .flag_if_supported("-ftls-model=initial-exec")
        .compile("leaktrace_thread_state");
}
