//! Embeds `libleaktrace.so` into the `leaktrace` launcher, so that
//! `cargo install --path report` gives a launcher that needs nothing else:
//! the library is built here from `../preload` (in a target directory of
//! its own, so the outer build's lock is not in the way) and included with
//! `include_bytes!`. Without the preload sources next to this crate, or
//! with `LEAKTRACE_NO_EMBED=1`, nothing is embedded and the launcher looks
//! for the library on disk only.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let embedded = out.join("libleaktrace.so");
    let preload = manifest.join("../preload");
    println!("cargo:rerun-if-env-changed=LEAKTRACE_NO_EMBED");
    for dir in [
        "../preload/src",
        "../preload/Cargo.toml",
        "../preload/build.rs",
        "../format/src",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
    if std::env::var_os("LEAKTRACE_NO_EMBED").is_some() || !preload.join("Cargo.toml").exists() {
        std::fs::write(&embedded, b"").unwrap();
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = out.join("preload-target");
    let status = Command::new(cargo)
        .args(["build", "--release", "--lib", "--manifest-path"])
        .arg(preload.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // `cargo clippy` sets this for the build it runs; not for ours.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .expect("cannot run cargo to build libleaktrace.so");
    assert!(
        status.success(),
        "building libleaktrace.so for embedding failed"
    );
    std::fs::copy(target.join("release/libleaktrace.so"), &embedded).unwrap();
}
