//! What the tests of the docs share: the Markdown files and their specs.

use std::path::PathBuf;

/// The README and every Markdown page of docs/.
pub fn doc_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/ exists") {
        files.push(entry.expect("readable docs/").path());
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "md"));
    files
}

/// The ```yaml blocks of a Markdown file that hold a whole spec, with the
/// line each starts at.
pub fn spec_blocks(text: &str) -> Vec<(usize, String)> {
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
