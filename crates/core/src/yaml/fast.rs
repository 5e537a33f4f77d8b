//! A quick reader for the plain shape nearly every spec is written in:
//! block mappings and sequences, one-line flow collections, one-line plain
//! and quoted scalars, comments. It builds the same tree, positions
//! included, as the full YAML parser would, several times faster, and
//! declines (`None`) anything else — anchors, tags, block scalars,
//! multi-line scalars, empty values, tabs and control characters,
//! duplicate keys, anything past a limit — which the full parser then
//! reads, errors and all. Whatever it accepts, a differential test holds it to the full
//! parser's tree.

use std::collections::HashSet;

use super::{Arena, Entry, MAX_DEPTH, MAX_KEYS, MAX_NODES, Node, Pos, Value, resolve_plain};

/// The tree of `text`, or `None` where the full parser must read it.
pub(super) fn parse<'a>(text: &'a str, arena: &'a Arena) -> Option<Node<'a>> {
    if !all_printable(text) || has_document_markers(text) {
        return None;
    }
    let mut reader = Reader {
        text,
        arena,
        at: 0,
        line: 1,
        line_start: 0,
        nodes: 0,
        depth: 0,
        items: Vec::new(),
        entries: Vec::new(),
    };
    reader.skip_blank_lines();
    if reader.at_end() || reader.indent() != 0 {
        return None;
    }
    let root = reader.block_node()?;
    reader.skip_blank_lines();
    reader.at_end().then_some(root)
}

/// How the quick reader departs from the full parser on `text`, if it
/// does: a tree of its own where the full parser reads another or refuses
/// the text. Debug forms are compared, as NaN is not equal to itself. For
/// the differential test and the spec fuzz target.
pub(crate) fn disagreement(text: &str) -> Option<String> {
    let arena = Arena::new();
    let quick = parse(text, &arena)?;
    match super::parse_fully(text, &arena) {
        Ok(full) => {
            let (quick, full) = (format!("{quick:?}"), format!("{full:?}"));
            (quick != full).then(|| {
                format!("the two readers differ on:\n{text}\nquick: {quick}\nfull:  {full}")
            })
        }
        Err(e) => Some(format!(
            "the quick reader accepted what the full parser refuses ({e:?}):\n{text}"
        )),
    }
}

/// Whether every character is [`printable`]: ASCII is checked a block of
/// bytes at a time, the rest a character at a time.
fn all_printable(text: &str) -> bool {
    let ascii = |b: u8| b == b'\n' || (b' '..=b'~').contains(&b);
    let blocks_ascii = text
        .as_bytes()
        .chunks(64)
        .all(|block| block.iter().fold(true, |all, &b| all & ascii(b)));
    blocks_ascii || text.chars().all(printable)
}

/// A character the reader takes as it is: no tab, no carriage return, no
/// control character, none of the line breaks and marks beyond ASCII that
/// YAML gives a meaning of their own.
fn printable(c: char) -> bool {
    match c {
        '\n' | ' '..='~' => true,
        '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
            false
        }
        c => c > '\u{7f}',
    }
}

/// `---`, `...` or a directive at the start of a line: documents and
/// directives are the full parser's.
fn has_document_markers(text: &str) -> bool {
    text.as_bytes()
        .split(|&b| b == b'\n')
        .any(|line| line.starts_with(b"---") || line.starts_with(b"...") || line.starts_with(b"%"))
}

struct Reader<'a> {
    /// The text, read as bytes: every slice taken of it is cut at an
    /// ASCII byte, so it is a `str` again.
    text: &'a str,
    arena: &'a Arena,
    at: usize,
    line: u32,
    line_start: usize,
    nodes: usize,
    depth: usize,
    /// The items and entries of the collections being read, each
    /// collection's on top of its parent's: moved into the arena at its
    /// end, rather than into a vector grown as they come.
    items: Vec<Node<'a>>,
    entries: Vec<Entry<'a>>,
}

/// Bytes that end a plain scalar inside a flow collection.
fn flow_stop(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// Bytes a key may hold: enough for every key updraft reads and for
/// environment and label names.
fn key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
}

impl<'a> Reader<'a> {
    fn src(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.src().get(self.at).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.src().get(self.at + offset).copied()
    }

    fn at_end(&self) -> bool {
        self.at >= self.src().len()
    }

    /// Where the reader is; columns count characters, as the full
    /// parser's do.
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.column() as u32 + 1,
        }
    }

    /// The column (0-based, in characters) of the reader on its line.
    fn column(&self) -> usize {
        let line = &self.src()[self.line_start..self.at];
        if line.is_ascii() {
            return line.len();
        }
        line.iter().filter(|&&b| b & 0xc0 != 0x80).count()
    }

    /// Whether the byte at `offset` ends a token: a space, a line end or
    /// the text's end.
    fn blank_at(&self, offset: usize) -> bool {
        matches!(self.peek_at(offset), None | Some(b' ' | b'\n'))
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// The indentation of the line the reader is at the start of.
    fn indent(&self) -> usize {
        self.src()[self.at..]
            .iter()
            .take_while(|&&b| b == b' ')
            .count()
    }

    /// Past a line end (or to the text's end).
    fn next_line(&mut self) {
        match self.src()[self.at..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                self.at += offset + 1;
                self.line += 1;
                self.line_start = self.at;
            }
            None => self.at = self.src().len(),
        }
    }

    /// Past blank and comment-only lines, to the start of the next line
    /// with content (or the end).
    fn skip_blank_lines(&mut self) {
        while !self.at_end() {
            let indent = self.indent();
            match self.peek_at(indent) {
                None | Some(b'\n' | b'#') => self.next_line(),
                Some(_) => return,
            }
        }
    }

    /// After a value: spaces, then a comment or the line's end, which is
    /// passed. `None` if anything else follows on the line.
    fn end_of_value_line(&mut self) -> Option<()> {
        let before = self.at;
        self.skip_spaces();
        match self.peek() {
            None | Some(b'\n') => {}
            Some(b'#') if self.at > before => {}
            _ => return None,
        }
        self.next_line();
        Some(())
    }

    /// The items from `start` on, moved into the arena.
    fn take_items(&mut self, start: usize) -> &'a [Node<'a>] {
        let items = self.arena.slice(&self.items[start..]);
        self.items.truncate(start);
        items
    }

    /// The entries from `start` on, moved into the arena.
    fn take_entries(&mut self, start: usize) -> &'a [Entry<'a>] {
        let entries = self.arena.slice(&self.entries[start..]);
        self.entries.truncate(start);
        entries
    }

    /// Counts one more node, declining past [`MAX_NODES`].
    fn count(&mut self) -> Option<()> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(())
    }

    /// One level deeper, declining at [`MAX_DEPTH`].
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth < MAX_DEPTH).then_some(())
    }

    /// The block node on the line the reader is at the start of (its
    /// indentation skipped here); leaves the reader at the start of the
    /// first line indented less than the node (or the end).
    fn block_node(&mut self) -> Option<Node<'a>> {
        let start = self.indent();
        self.at += start;
        if self.peek() == Some(b'-') && self.blank_at(1) {
            self.block_sequence()
        } else if self.key_ahead() {
            self.block_mapping()
        } else {
            None
        }
    }

    /// Whether a `key:` (followed by a space or the line end) starts here.
    fn key_ahead(&self) -> bool {
        let rest = &self.src()[self.at..];
        let len = rest.iter().take_while(|&&b| key_byte(b)).count();
        len > 0
            && rest[0] != b'-'
            && rest.get(len) == Some(&b':')
            && matches!(rest.get(len + 1), None | Some(b' ' | b'\n'))
    }

    /// A key and its colon; `None` unless it is a plain string key.
    fn key(&mut self) -> Option<(&'a str, Pos)> {
        let pos = self.pos();
        let len = self.src()[self.at..]
            .iter()
            .take_while(|&&b| key_byte(b))
            .count();
        if len == 0 || self.src()[self.at] == b'-' || self.peek_at(len) != Some(b':') {
            return None;
        }
        let text = self.text.get(self.at..self.at + len)?;
        let Value::Str(key) = resolve_plain(text) else {
            return None;
        };
        self.at += len + 1;
        self.count()?;
        Some((key, pos))
    }

    fn block_mapping(&mut self) -> Option<Node<'a>> {
        self.enter()?;
        let col = self.column();
        let pos = self.pos();
        let mut keys = Keys::default();
        let start = self.entries.len();
        loop {
            let (key, key_pos) = self.key()?;
            keys.insert(key, &self.entries[start..])?;
            let value = self.value_after_indicator(col, false)?;
            self.entries.push(Entry {
                key,
                key_pos,
                value,
            });
            if !self.same_column_next(col)? {
                break;
            }
            if self.peek() == Some(b'-') && self.blank_at(1) {
                return None;
            }
        }
        self.depth -= 1;
        self.count()?;
        Some(Node {
            pos,
            value: Value::Map(self.take_entries(start)),
        })
    }

    fn block_sequence(&mut self) -> Option<Node<'a>> {
        self.enter()?;
        let col = self.column();
        let pos = self.pos();
        let start = self.items.len();
        loop {
            self.at += 1;
            let item = self.value_after_indicator(col, true)?;
            self.items.push(item);
            if !self.same_column_next(col)? {
                break;
            }
            if !(self.peek() == Some(b'-') && self.blank_at(1)) {
                return None;
            }
        }
        self.depth -= 1;
        self.count()?;
        Some(Node {
            pos,
            value: Value::Seq(self.take_items(start)),
        })
    }

    /// After the blank lines that end an entry or item of a collection at
    /// column `col`: whether another follows at that column (the reader is
    /// then on its first byte). A line indented less ends the collection
    /// (the reader stays at its start); one indented more is declined.
    fn same_column_next(&mut self, col: usize) -> Option<bool> {
        self.skip_blank_lines();
        if self.at_end() {
            return Some(false);
        }
        let indent = self.indent();
        if indent > col {
            return None;
        }
        if indent < col {
            return Some(false);
        }
        self.at += indent;
        Some(true)
    }

    /// The value after `key:` or `-` of a collection at column `col`: on
    /// the same line (a mapping there only after `-`), or a block node on
    /// the lines below, indented more.
    fn value_after_indicator(&mut self, col: usize, item: bool) -> Option<Node<'a>> {
        if !self.blank_at(0) {
            return None;
        }
        self.skip_spaces();
        match self.peek() {
            None | Some(b'\n' | b'#') => {
                // An empty value's position is the full parser's to give.
                self.next_line();
                self.skip_blank_lines();
                if self.at_end() || self.indent() <= col {
                    return None;
                }
                self.block_node()
            }
            Some(b'-') if self.blank_at(1) => None,
            Some(_) if self.key_ahead() => item.then(|| self.block_mapping())?,
            Some(_) => {
                let node = self.inline_value(false)?;
                self.end_of_value_line()?;
                // A line below indented more would continue a plain
                // scalar (or be an error): the full parser's.
                self.skip_blank_lines();
                if !self.at_end() && self.indent() > col {
                    return None;
                }
                Some(node)
            }
        }
    }

    /// A value that starts and ends on this line: a flow collection or a
    /// scalar, whose plain form ends differently inside a flow collection.
    fn inline_value(&mut self, in_flow: bool) -> Option<Node<'a>> {
        let pos = self.pos();
        let value = match self.peek()? {
            b'[' => return self.flow_sequence(),
            b'{' => return self.flow_mapping(),
            b'"' | b'\'' => Value::Str(self.quoted()?),
            _ => resolve_plain(self.plain(in_flow)?),
        };
        self.count()?;
        Some(Node { pos, value })
    }

    /// A plain scalar, in a flow collection or not; `None` where the full
    /// parser must decide (indicators, colons, a scalar that could go on).
    fn plain(&mut self, in_flow: bool) -> Option<&'a str> {
        let first = self.peek()?;
        if matches!(
            first,
            b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'"' | b'\''
        ) || flow_stop(first)
            || matches!(first, b'?' | b':')
            || (first == b'-' && (self.blank_at(1) || self.peek_at(1).is_some_and(flow_stop)))
        {
            return None;
        }
        let start = self.at;
        let mut end = start;
        while let Some(b) = self.peek() {
            match b {
                b'\n' => break,
                b'#' if self.at > start && self.src()[self.at - 1] == b' ' => break,
                b':' if in_flow => return None,
                b':' if self.blank_at(1) => return None,
                b if in_flow && flow_stop(b) => break,
                _ => {}
            }
            self.at += 1;
            if b != b' ' {
                end = self.at;
            }
        }
        if in_flow && matches!(self.peek(), None | Some(b'\n' | b'#')) {
            return None;
        }
        self.at = end;
        self.text.get(start..end)
    }

    /// A quoted scalar's text: borrowed from the source unless an escape
    /// (`\n` in double quotes, `''` in single) makes it differ, when it is
    /// kept in the arena.
    fn quoted(&mut self) -> Option<&'a str> {
        let quote = self.peek()?;
        self.at += 1;
        let start = self.at;
        let mut out: Option<Vec<u8>> = None;
        loop {
            let b = self.peek()?;
            self.at += 1;
            let byte = match b {
                b'\n' => return None,
                b'\'' if quote == b'\'' && self.peek() == Some(b'\'') => {
                    self.at += 1;
                    b'\''
                }
                b'\\' if quote == b'"' => {
                    let escaped = match self.peek()? {
                        b'\\' => b'\\',
                        b'"' => b'"',
                        b'/' => b'/',
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'0' => 0,
                        _ => return None,
                    };
                    self.at += 1;
                    escaped
                }
                b if b == quote => {
                    return match out {
                        None => self.text.get(start..self.at - 1),
                        Some(bytes) => Some(self.arena.str(std::str::from_utf8(&bytes).ok()?)),
                    };
                }
                b => {
                    if let Some(out) = &mut out {
                        out.push(b);
                    }
                    continue;
                }
            };
            // The first escape: what came before it is copied once.
            let out = out.get_or_insert_with(|| self.src()[start..self.at - 2].to_vec());
            out.push(byte);
        }
    }

    /// After an item or entry of a flow collection: `true` at its closing
    /// byte (passed), `false` after a comma and before the next item.
    fn flow_separator(&mut self, close: u8) -> Option<bool> {
        self.skip_spaces();
        match self.peek()? {
            b',' => {
                self.at += 1;
                self.skip_spaces();
                // A trailing comma is the full parser's.
                match self.peek()? {
                    b']' | b'}' | b',' | b'\n' => None,
                    _ => Some(false),
                }
            }
            b if b == close => {
                self.at += 1;
                Some(true)
            }
            _ => None,
        }
    }

    fn flow_sequence(&mut self) -> Option<Node<'a>> {
        self.enter()?;
        let pos = self.pos();
        self.at += 1;
        self.skip_spaces();
        let start = self.items.len();
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            loop {
                let item = self.inline_value(true)?;
                self.items.push(item);
                if self.flow_separator(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        self.count()?;
        Some(Node {
            pos,
            value: Value::Seq(self.take_items(start)),
        })
    }

    fn flow_mapping(&mut self) -> Option<Node<'a>> {
        self.enter()?;
        let pos = self.pos();
        self.at += 1;
        self.skip_spaces();
        let mut keys = Keys::default();
        let start = self.entries.len();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                let (key, key_pos) = self.key()?;
                if !self.blank_at(0) || self.peek() == Some(b'\n') {
                    return None;
                }
                self.skip_spaces();
                keys.insert(key, &self.entries[start..])?;
                let value = self.inline_value(true)?;
                self.entries.push(Entry {
                    key,
                    key_pos,
                    value,
                });
                if self.flow_separator(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        self.count()?;
        Some(Node {
            pos,
            value: Value::Map(self.take_entries(start)),
        })
    }
}

/// The keys of one mapping, to decline a duplicate (the full parser words
/// its error): a scan while few, a set once many.
#[derive(Default)]
struct Keys<'a>(Option<HashSet<&'a str>>);

/// Up to how many keys a scan of the entries is quicker than a set.
const SCAN_KEYS: usize = 16;

impl<'a> Keys<'a> {
    fn insert(&mut self, key: &'a str, entries: &[Entry<'a>]) -> Option<()> {
        if entries.len() >= MAX_KEYS {
            return None;
        }
        if self.0.is_none() && entries.len() < SCAN_KEYS {
            return (!entries.iter().any(|e| e.key == key)).then_some(());
        }
        let set = self
            .0
            .get_or_insert_with(|| entries.iter().map(|e| e.key).collect());
        set.insert(key).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::super::{Arena, Value};

    /// Whether the quick reader accepted `text`; fails if it departs from
    /// the full parser.
    fn agrees(text: &str) -> bool {
        if let Some(why) = super::disagreement(text) {
            panic!("{why}");
        }
        super::parse(text, &Arena::new()).is_some()
    }

    fn repository() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Every spec in the repository and every YAML example in its docs.
    fn corpus() -> Vec<(String, String)> {
        let mut texts = Vec::new();
        let root = repository();
        for dir in [
            "dag-specs",
            "dag-specs/examples/aws",
            "dag-specs/examples/airflow",
            "fuzz/corpus/spec",
            "crates/cli/starter",
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if let Ok(text) = std::fs::read_to_string(&path) {
                    texts.push((path.display().to_string(), text));
                }
            }
        }
        let docs = std::fs::read_dir(root.join("docs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .chain([root.join("README.md")]);
        for doc in docs {
            let text = std::fs::read_to_string(&doc).unwrap_or_default();
            let doc = doc.display();
            for (i, block) in text.split("```yaml\n").skip(1).enumerate() {
                let block = block.split("```").next().unwrap_or_default();
                texts.push((format!("{doc} block {i}"), block.to_string()));
            }
        }
        texts
    }

    #[test]
    fn the_quick_reader_agrees_with_the_full_parser_on_every_spec_and_example() {
        let corpus = corpus();
        assert!(corpus.len() > 50, "only {} texts found", corpus.len());
        let accepted = corpus.iter().filter(|(_, text)| agrees(text)).count();
        // Most are written in the plain shape; the rest use block scalars,
        // anchors or empty values, which the full parser reads.
        assert!(
            accepted * 2 > corpus.len(),
            "the quick reader took only {accepted} of {}",
            corpus.len()
        );
    }

    #[test]
    fn the_shapes_specs_are_written_in_are_read_quickly_with_their_positions() {
        let text = "dag: big  # a comment\ndefaults: { retries: 2, retry_delay: 1m }\n\ntasks:\n  - id: t0\n    command: [python, \"step.py\", --day, '{{ ds }}', -1]\n    environment: { OUT: \"s3://b/{{ ds }}\", N: '1' }\n  - id: t1\n    after: [t0]\n    labels:\n      team.name: data\n";
        assert!(agrees(text));
        let arena = Arena::new();
        let root = super::parse(text, &arena).unwrap();
        let json = root.to_json();
        assert_eq!(json["tasks"][0]["command"][4], -1);
        assert_eq!(json["tasks"][0]["environment"]["N"], "1");
    }

    #[test]
    fn quoted_scalars_are_borrowed_unless_an_escape_changes_them() {
        let text = "a: \"plain\"\nb: 'it''s'\nc: \"x\\\"y\\\\z\\n\"\nd: 'é'\ne: \"\\tlead\"\n";
        assert!(agrees(text));
        let arena = Arena::new();
        let Value::Map(entries) = super::parse(text, &arena).unwrap().value else {
            panic!("not a mapping")
        };
        let read: Vec<(&str, bool)> = entries
            .iter()
            .map(|e| match &e.value.value {
                Value::Str(s) => (*s, text.as_bytes().as_ptr_range().contains(&s.as_ptr())),
                other => panic!("not a string: {other:?}"),
            })
            .collect();
        assert_eq!(
            read,
            [
                ("plain", true),
                ("it's", false),
                ("x\"y\\z\n", false),
                ("é", true),
                ("\tlead", false)
            ]
        );
    }

    #[test]
    fn what_only_the_full_parser_reads_is_declined() {
        for text in [
            "a: |\n  x\n",
            "a: &x 1\nb: *x\n",
            "a:\nb: 1\n",
            "a: 1\na: 2\n",
            "a: b\n  c\n",
            "a: [1,\n  2]\n",
            "a: \"x\ny\"\n",
            "a: !!str 1\n",
            "---\na: 1\n",
            "a: \u{85}\n",
            "a:\t1\n",
            "tasks:\n- a\n",
            "a: b: c\n",
            "1: x\n",
            "a: [x, ]\n",
            "a: [x:y]\n",
            "a: \"\\x41\"\n",
            "- - a\n",
        ] {
            assert!(
                super::parse(text, &Arena::new()).is_none(),
                "accepted:\n{text}"
            );
        }
    }

    /// Small edits of real specs: wherever the quick reader still accepts
    /// the text, the full parser must read the same tree.
    fn edited() -> impl Strategy<Value = String> {
        let corpus: Vec<String> = corpus().into_iter().map(|(_, t)| t).collect();
        let pieces = prop::sample::select(vec![
            " ", "  ", "\n", ":", ": ", "- ", "-", "#", " #", "[", "]", "{", "}", ",", "'", "\"",
            "\\", "a", "1", "x: y", "\n  ", "\n- ", "?", "*", "&", "!", "|", ">", "~", "null",
            "true", "0x1f", "1.5", ".nan", "-1", "é", "—", "\t", "\u{2028}",
        ]);
        (
            prop::sample::select(corpus),
            prop::collection::vec((any::<prop::sample::Index>(), 0..3usize, pieces), 1..4),
        )
            .prop_map(|(text, edits)| {
                let mut text = text.into_bytes();
                for (at, cut, piece) in edits {
                    let at = at.index(text.len() + 1);
                    let end = (at + cut).min(text.len());
                    text.splice(at..end, piece.bytes());
                }
                String::from_utf8_lossy(&text).into_owned()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]
        #[test]
        fn an_edited_spec_reads_the_same_quickly_or_not_at_all(text in edited()) {
            agrees(&text);
        }
    }
}
