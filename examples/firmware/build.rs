//! Puts `memory.x` on the linker's search path (cortex-m-rt's `link.x` includes it), and
//! sets `cfg(policies)` (any policy feature on) and `cfg(all_policies)` (all four on).

use std::env;
use std::fs;
use std::path::PathBuf;

const LAYERS: [&str; 4] = ["RETRY", "TIMEOUT", "BREAKER", "BULKHEAD"];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed=memory.x");
    println!("cargo::rerun-if-changed=build.rs");

    println!("cargo::rustc-check-cfg=cfg(policies, all_policies)");
    let on = LAYERS
        .iter()
        .filter(|l| env::var_os(format!("CARGO_FEATURE_{l}")).is_some())
        .count();
    if on > 0 {
        println!("cargo::rustc-cfg=policies");
    }
    if on == LAYERS.len() {
        println!("cargo::rustc-cfg=all_policies");
    }
}
