//! A YAML document as a tree of nodes that remember where they were written,
//! so every validation error can name its line and column.
//!
//! Plain scalars are typed by the YAML 1.2 core schema (null, bool, int,
//! float, else string); quoted scalars are always strings. Duplicate keys and
//! non-string keys are errors, not silently merged.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use libyaml_safer::{EventData, Mark, Parser, STR_TAG, ScalarStyle};

mod fast;
pub(crate) use fast::disagreement;

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line, counted from 1.
    pub line: u32,
    /// Column, counted from 1.
    pub col: u32,
}

/// One node of a YAML document. Its strings borrow from the text where
/// they are written as they read, and everything else of the tree lives in
/// the [`Arena`] it was read into, so a large spec is read, and freed,
/// without an allocation per value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Node<'a> {
    /// Where the node starts.
    pub pos: Pos,
    /// What the node holds.
    pub value: Value<'a>,
}

/// The content of a [`Node`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Any other scalar.
    Str(&'a str),
    /// A sequence.
    Seq(&'a [Node<'a>]),
    /// A mapping, in the order written.
    Map(&'a [Entry<'a>]),
}

/// One `key: value` pair of a mapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry<'a> {
    /// The key text.
    pub key: &'a str,
    /// Where the key was written.
    pub key_pos: Pos,
    /// The value.
    pub value: Node<'a>,
}

/// Where a document's sequences, mappings and unescaped strings are kept
/// while it is read: they are freed together when the arena is dropped.
#[derive(Default)]
pub struct Arena(bumpalo::Bump);

impl Arena {
    /// An empty arena, for one document or many.
    pub fn new() -> Self {
        Self::default()
    }

    fn slice<T: Copy>(&self, items: &[T]) -> &[T] {
        self.0.alloc_slice_copy(items)
    }

    fn str(&self, text: &str) -> &str {
        self.0.alloc_str(text)
    }
}

/// A YAML error with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// Where the problem is.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl Node<'_> {
    /// A short word for the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The node as JSON. Mappings become objects with sorted keys, which is
    /// what makes the canonical form of a spec independent of key order.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Value::Str(s) => J::String((*s).to_string()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.to_string(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

fn pos_of(mark: Mark) -> Pos {
    Pos {
        line: mark.line as u32 + 1,
        col: mark.column as u32 + 1,
    }
}

/// The largest file read: a generated DAG of thousands of tasks is a few
/// hundred KiB.
pub const MAX_BYTES: usize = 4 << 20;
/// The deepest nesting of sequences and mappings: a spec needs about six.
pub const MAX_DEPTH: usize = 64;
/// The most nodes a document may hold, every alias counted as the nodes it
/// repeats (a few hundred bytes of aliases can otherwise mean billions).
pub const MAX_NODES: usize = 500_000;
/// The most keys one mapping may hold.
pub const MAX_KEYS: usize = 10_000;

/// Parses a single-document YAML text into `arena`, within [`MAX_BYTES`],
/// [`MAX_DEPTH`], [`MAX_NODES`] and [`MAX_KEYS`].
pub fn parse<'a>(text: &'a str, arena: &'a Arena) -> Result<Node<'a>, YamlError> {
    if text.len() > MAX_BYTES {
        return Err(YamlError {
            pos: Pos { line: 1, col: 1 },
            message: format!(
                "the file is {} bytes, more than {MAX_BYTES} (the limit)",
                text.len()
            ),
        });
    }
    fast::parse(text, arena).map_or_else(|| parse_fully(text, arena), Ok)
}

/// A YAML text as JSON, for a caller that needs no positions.
pub fn to_json(text: &str) -> Result<serde_json::Value, YamlError> {
    parse(text, &Arena::new()).map(|root| root.to_json())
}

/// [`parse`] by the full YAML parser, for any text.
fn parse_fully<'a>(text: &str, arena: &'a Arena) -> Result<Node<'a>, YamlError> {
    let mut last = Pos { line: 1, col: 1 };
    let parsed =
        std::panic::catch_unwind(AssertUnwindSafe(|| parse_events(text, arena, &mut last)));
    // libyaml-safer 0.3 still panics on some malformed texts (`[!,`, found
    // by fuzzing): nothing of its state outlives the call, so the panic is
    // a syntax error after the last event it read.
    parsed.unwrap_or(Err(YamlError {
        pos: last,
        message: "YAML syntax error: the text after here cannot be read as YAML".into(),
    }))
}

/// [`parse`], noting where each event it reads starts in `last`.
fn parse_events<'a>(text: &str, arena: &'a Arena, last: &mut Pos) -> Result<Node<'a>, YamlError> {
    // libyaml-safer 0.3 panics on a block scalar that ends the text without
    // a line break (`a: |\n  x`, found by fuzzing): such a text is parsed
    // with one added, and the scalar that took it gives it back.
    let padded;
    let (source, added_at) = if text.is_empty() || text.ends_with('\n') {
        (text, None)
    } else {
        padded = format!("{text}\n");
        (padded.as_str(), Some(text.len() as u64))
    };
    let mut input = source.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut builder = Builder::new(arena);
    loop {
        let event = parser.parse().map_err(|e| YamlError {
            pos: e
                .problem_mark()
                .map(pos_of)
                .unwrap_or(Pos { line: 1, col: 1 }),
            message: format!("YAML syntax error: {}", e.problem()),
        })?;
        let mut data = event.data;
        if data == EventData::StreamEnd {
            break;
        }
        if let (
            Some(at),
            EventData::Scalar {
                value,
                style: ScalarStyle::Literal | ScalarStyle::Folded,
                ..
            },
        ) = (added_at, &mut data)
            && event.end_mark.index > at
            && value.ends_with('\n')
        {
            value.pop();
        }
        *last = pos_of(event.start_mark);
        builder.on_event(data, *last)?;
    }
    builder.root.ok_or(YamlError {
        pos: Pos { line: 1, col: 1 },
        message: "the file is empty; a spec is a YAML mapping starting with `dag:`".into(),
    })
}

/// A sequence or mapping being read, with the node count at its start.
enum Open<'a> {
    Seq(Pos, Option<String>, usize, Vec<Node<'a>>),
    Map(Pos, Option<String>, usize, MapBody<'a>),
}

#[derive(Default)]
struct MapBody<'a> {
    entries: Vec<Entry<'a>>,
    /// Each key's line, to find a duplicate without a scan.
    lines: HashMap<String, u32>,
    pending_key: Option<(String, Pos)>,
}

struct Builder<'a> {
    arena: &'a Arena,
    stack: Vec<Open<'a>>,
    /// Each anchor's node and how many nodes it holds.
    anchors: HashMap<String, (Node<'a>, usize)>,
    root: Option<Node<'a>>,
    documents: usize,
    /// Nodes made so far, aliases counted as what they repeat.
    nodes: usize,
}

fn limit(pos: Pos, message: String) -> YamlError {
    YamlError { pos, message }
}

impl<'a> Builder<'a> {
    fn new(arena: &'a Arena) -> Self {
        Builder {
            arena,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            documents: 0,
            nodes: 0,
        }
    }

    fn on_event(&mut self, event: EventData, pos: Pos) -> Result<(), YamlError> {
        match event {
            EventData::DocumentStart { .. } => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(YamlError {
                        pos,
                        message:
                            "a spec file holds one YAML document (one DAG); remove the extra `---`"
                                .into(),
                    });
                }
            }
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let quoted = style != ScalarStyle::Plain || tag.as_deref() == Some(STR_TAG);
                let value = if quoted {
                    Value::Str(self.arena.str(&value))
                } else {
                    resolve_plain(self.arena.str(&value))
                };
                let start = self.count(1, pos)?;
                self.push(Node { pos, value }, anchor, start)?;
            }
            EventData::SequenceStart { anchor, .. } => {
                let start = self.open(pos)?;
                self.stack.push(Open::Seq(pos, anchor, start, Vec::new()))
            }
            EventData::MappingStart { anchor, .. } => {
                let start = self.open(pos)?;
                self.stack
                    .push(Open::Map(pos, anchor, start, MapBody::default()))
            }
            EventData::SequenceEnd => {
                if let Some(Open::Seq(start, anchor, first, items)) = self.stack.pop() {
                    let value = Value::Seq(self.arena.slice(&items));
                    self.push(Node { pos: start, value }, anchor, first)?;
                }
            }
            EventData::MappingEnd => {
                if let Some(Open::Map(start, anchor, first, body)) = self.stack.pop() {
                    let value = Value::Map(self.arena.slice(&body.entries));
                    self.push(Node { pos: start, value }, anchor, first)?;
                }
            }
            EventData::Alias { anchor } => {
                let (node, size) = self.anchors.get(&anchor).copied().ok_or(YamlError {
                    pos,
                    message: format!("alias `*{anchor}` refers to an unknown anchor"),
                })?;
                let start = self.count(size, pos)?;
                self.push(Node { pos, ..node }, None, start)?;
            }
            EventData::StreamStart { .. }
            | EventData::StreamEnd
            | EventData::DocumentEnd { .. } => {}
        }
        Ok(())
    }

    /// Counts `size` more nodes, refusing past [`MAX_NODES`]; returns the
    /// count before them.
    fn count(&mut self, size: usize, pos: Pos) -> Result<usize, YamlError> {
        let before = self.nodes;
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > MAX_NODES {
            return Err(limit(
                pos,
                format!(
                    "the document holds more than {MAX_NODES} values, aliases counted as what they repeat (the limit)"
                ),
            ));
        }
        Ok(before)
    }

    /// Counts a sequence or mapping opened at `pos`, refusing past
    /// [`MAX_DEPTH`].
    fn open(&mut self, pos: Pos) -> Result<usize, YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(limit(
                pos,
                format!("values are nested more than {MAX_DEPTH} deep (the limit)"),
            ));
        }
        self.count(1, pos)
    }

    /// Adds `node` (whose nodes were counted from `first`) to what is open.
    fn push(
        &mut self,
        node: Node<'a>,
        anchor: Option<String>,
        first: usize,
    ) -> Result<(), YamlError> {
        if let Some(anchor) = anchor {
            self.anchors.insert(anchor, (node, self.nodes - first));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(_, _, _, items)) => items.push(node),
            Some(Open::Map(_, _, _, body)) => match body.pending_key.take() {
                None => {
                    let Value::Str(key) = node.value else {
                        let key = match node.value {
                            Value::Int(i) => i.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Null => String::new(),
                            _ => {
                                return Err(YamlError {
                                    pos: node.pos,
                                    message: format!(
                                        "a mapping key must be a string, not {}",
                                        node.kind()
                                    ),
                                });
                            }
                        };
                        body.pending_key = Some((key, node.pos));
                        return Ok(());
                    };
                    if let Some(line) = body.lines.get(key) {
                        return Err(YamlError {
                            pos: node.pos,
                            message: format!(
                                "duplicate key `{key}` (first written at line {line})"
                            ),
                        });
                    }
                    if body.lines.len() >= MAX_KEYS {
                        return Err(limit(
                            node.pos,
                            format!("a mapping holds more than {MAX_KEYS} keys (the limit)"),
                        ));
                    }
                    body.lines.insert(key.to_string(), node.pos.line);
                    body.pending_key = Some((key.to_string(), node.pos));
                }
                Some((key, key_pos)) => body.entries.push(Entry {
                    key: self.arena.str(&key),
                    key_pos,
                    value: node,
                }),
            },
        }
        Ok(())
    }
}

/// Types a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    // Most plain scalars are words, and no number starts with a letter.
    if text.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return Value::Str(text);
    }
    let digits = |s: &str, radix| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(oct) = text.strip_prefix("0o").filter(|s| digits(s, 8))
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x").filter(|s| digits(s, 16))
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(i);
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(unsigned, 10)
        && let Ok(i) = text.parse()
    {
        return Value::Int(i);
    }
    let looks_numeric = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if looks_numeric && let Ok(f) = text.parse() {
        return Value::Float(f);
    }
    Value::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document of `text`, in an arena of its own that lives as long
    /// as the test.
    fn parse(text: &str) -> Result<Node<'_>, YamlError> {
        super::parse(text, Box::leak(Box::default()))
    }

    fn map<'n>(node: &'n Node<'_>) -> &'n [Entry<'n>] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalars_are_typed_by_the_core_schema_unless_quoted() {
        let root =
            parse("a: 1\nb: '1'\nc: true\nd: 2026-11-01\ne: 1.5\nf:\ng: 0x1f\nh: 1e3\n").unwrap();
        let values: Vec<_> = map(&root).iter().map(|e| e.value.value).collect();
        assert_eq!(
            values,
            vec![
                Value::Int(1),
                Value::Str("1"),
                Value::Bool(true),
                Value::Str("2026-11-01"),
                Value::Float(1.5),
                Value::Null,
                Value::Int(31),
                Value::Float(1000.0),
            ]
        );
    }

    #[test]
    fn every_special_word_of_the_core_schema_is_typed_and_its_near_misses_are_strings() {
        fn typed(text: &str) -> Value<'_> {
            resolve_plain(text)
        }
        for word in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(typed(word), Value::Null, "{word:?}");
        }
        for (word, b) in [("true", true), ("True", true), ("TRUE", true)] {
            assert_eq!(typed(word), Value::Bool(b), "{word}");
        }
        for word in ["false", "False", "FALSE"] {
            assert_eq!(typed(word), Value::Bool(false), "{word}");
        }
        for word in [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"] {
            assert_eq!(typed(word), Value::Float(f64::INFINITY), "{word}");
        }
        for word in ["-.inf", "-.Inf", "-.INF"] {
            assert_eq!(typed(word), Value::Float(f64::NEG_INFINITY), "{word}");
        }
        for word in [".nan", ".NaN", ".NAN"] {
            assert!(
                matches!(typed(word), Value::Float(f) if f.is_nan()),
                "{word}"
            );
        }
        assert_eq!(typed("-5"), Value::Int(-5));
        assert_eq!(typed("+.5"), Value::Float(0.5));
        for word in [
            "~~", "nul", "nULL", "tRUE", "falsey", "t0", "-.in", "--day", ".x", "yes",
        ] {
            assert_eq!(typed(word), Value::Str(word), "{word}");
        }
    }

    #[test]
    fn nodes_know_their_line_and_column() {
        let root = parse("dag: x\ntasks:\n  - id: a\n    command: [echo, hi]\n").unwrap();
        let tasks = &map(&root)[1];
        assert_eq!(tasks.key_pos, Pos { line: 2, col: 1 });
        let Value::Seq(items) = &tasks.value.value else {
            panic!()
        };
        let id = &map(&items[0])[0];
        assert_eq!(id.key_pos, Pos { line: 3, col: 5 });
        assert_eq!(id.value.pos, Pos { line: 3, col: 9 });
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_lines() {
        let err = parse("dag: x\nowner: a\nowner: b\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert_eq!(
            err.message,
            "duplicate key `owner` (first written at line 2)"
        );
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("dag: x\ntasks: [a, b\n").unwrap_err();
        assert!(
            err.message.starts_with("YAML syntax error"),
            "{}",
            err.message
        );
        assert!(err.pos.line >= 2);
    }

    #[test]
    fn anchors_and_aliases_are_expanded() {
        let root = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(map(&root)[1].value.to_json(), serde_json::json!([1, 2]));
    }

    #[test]
    fn a_second_document_is_rejected() {
        let err = parse("dag: a\n---\ndag: b\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
    }

    /// Fuzzing found libyaml-safer panicking on these; the values are
    /// those PyYAML and libyaml give.
    #[test]
    fn a_block_scalar_may_end_the_text_without_a_line_break() {
        let value = |text: &'static str| match parse(text).unwrap().value {
            Value::Map(entries) => entries[0].value.value,
            other => other,
        };
        let text = |t: &'static str| Value::Str(t);
        assert_eq!(value("a: |\n  x"), text("x"));
        assert_eq!(value("a: |+\n  x"), text("x"));
        assert_eq!(value("a: |-\n  x"), text("x"));
        assert_eq!(value("a: >\n  x\n  y"), text("x y"));
        assert_eq!(value("a: |\n  x\n"), text("x\n"), "as before");
        assert_eq!(value("|\n R"), text("R"));
        assert_eq!(
            value("- |\n x"),
            Value::Seq(&[Node {
                pos: Pos { line: 1, col: 3 },
                value: text("x")
            }])
        );
    }

    #[test]
    fn a_text_the_yaml_library_panics_on_is_a_syntax_error() {
        let err = parse("a: 1\nb: [!,").unwrap_err();
        assert_eq!(err.pos.line, 2, "{err:?}");
        assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
    }
}
