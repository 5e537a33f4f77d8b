//! Every spec example in the README and docs/ is a valid spec: the docs
//! cannot drift from what the validator accepts.

mod common;

use common::{doc_files, spec_blocks};
use updraft_core::spec::{parse_pools, parse_spec};

#[test]
fn every_spec_example_in_the_docs_validates() {
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).expect("readable doc");
        for (line, block) in spec_blocks(&text) {
            let parsed = match block.starts_with("pools:") {
                true => parse_pools("pools.yaml", &block).map(drop),
                false => parse_spec("example", &block).map(drop),
            };
            if let Err(errors) = parsed {
                let first = &errors.0[0];
                let at = line + first.pos.line as usize - 1;
                panic!(
                    "{}:{at}:{}: a spec example does not validate: {}",
                    file.display(),
                    first.pos.col,
                    first.message
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "found only {checked} spec examples");
}
