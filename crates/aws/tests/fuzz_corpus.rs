//! The fuzz targets' seed corpus (`fuzz/corpus/<target>/`) as regression
//! tests: each target's body runs on each of its seeds and returns. `make
//! fuzz` grows the corpus; a crash it finds is saved as a seed here, so it
//! stays fixed.

use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

#[test]
fn every_seed_of_every_fuzz_target_returns() {
    type Body = fn(&[u8]);
    let targets: [(&str, Body); 5] = [
        ("spec", updraft_core::fuzz::spec),
        ("template", updraft_core::fuzz::template),
        ("state_change", updraft_aws::fuzz::state_change),
        ("s3_event", updraft_aws::fuzz::s3_event),
        ("sqs_body", updraft_aws::fuzz::sqs_body),
    ];
    let mut ran = 0;
    for (target, body) in targets {
        for (_, bytes) in seeds(target) {
            body(&bytes);
            ran += 1;
        }
    }
    assert!(ran >= 15, "{ran} seeds");
}

/// The seeds are real inputs, not noise: the valid ones parse.
#[test]
fn the_valid_seeds_parse() {
    for (path, bytes) in seeds("state_change") {
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            updraft_aws::events::parse(&text).is_ok(),
            "{}",
            path.display()
        );
    }
    for (path, bytes) in seeds("sqs_body") {
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            updraft_aws::sqs::decode_message(&text).is_ok(),
            "{}",
            path.display()
        );
    }
    // `crash-*` seeds are what fuzzing found, `slow-*` what stalled a
    // parser before its limits; they need only return.
    for (path, bytes) in seeds("spec") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("crash-") || name.starts_with("slow-") {
            continue;
        }
        let parsed = updraft_core::spec::parse_spec(&name, &String::from_utf8(bytes).unwrap());
        assert_eq!(parsed.is_ok(), name != "cycle.yaml", "{name}: {parsed:?}");
    }
}
