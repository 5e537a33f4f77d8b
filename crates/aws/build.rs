//! Deflates the caller's service models (`src/call/models.json`, kept as
//! text so a regeneration reads as a diff) into what the binaries embed.

use std::path::PathBuf;
use std::{env, fs};

const MODELS: &str = "src/call/models.json";

fn main() {
    println!("cargo::rerun-if-changed={MODELS}");
    let text = fs::read(MODELS).expect("the service models are part of the crate");
    let deflated = miniz_oxide::deflate::compress_to_vec(&text, 9);
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("models.json.deflate"), deflated).expect("OUT_DIR is writable");
}
