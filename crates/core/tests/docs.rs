//! Every spec example in the README and docs/ is a valid spec: the docs
//! cannot drift from what the validator accepts.

use std::path::Path;

use updraft_core::spec::{parse_pools, parse_spec};

/// The ```yaml blocks of a Markdown file that hold a whole spec, with the
/// line each starts at.
fn spec_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match current.as_mut() {
            None if line.trim() == "```yaml" => current = Some((n + 2, String::new())),
            Some(_) if line.trim() == "```" => {
                let (start, body) = current.take().unwrap_or_default();
                if body.starts_with("dag:") || body.starts_with("pools:") {
                    blocks.push((start, body));
                }
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_spec_example_in_the_docs_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/ exists") {
        files.push(entry.expect("readable docs/").path());
    }
    let mut checked = 0;
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(file).expect("readable doc");
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
