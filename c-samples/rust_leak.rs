//! Rust leaks, for demangling: names must come out as `rust_leak::leak_vec`.
//!   rust_leak::leak_vec      1000 in 1
//!   rust_leak::leak_box       128 in 1   (Box<[u64; 16]>)
//!   rust_leak::leak_string     64 in 1   (String::with_capacity(64))

#[inline(never)]
fn leak_vec() {
    std::mem::forget(std::hint::black_box(vec![1u8; 1000]));
}

#[inline(never)]
fn leak_box() {
    let b: &'static mut [u64; 16] = Box::leak(Box::new([7u64; 16]));
    std::hint::black_box(b);
}

#[inline(never)]
fn leak_string() {
    let mut s = String::with_capacity(64);
    s.push_str("leaked");
    std::mem::forget(std::hint::black_box(s));
}

#[inline(never)]
fn clean_rust() {
    let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    std::hint::black_box(&v);
}

fn main() {
    clean_rust();
    leak_vec();
    leak_box();
    leak_string();
}
