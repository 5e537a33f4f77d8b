//! `triggers:` — what starts a run besides the schedule: another DAG's run
//! ending, or an artifact matching a pattern appearing (produced by an
//! updraft run, or an object created in a watched bucket), or `all:` /
//! `any:` of those.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::ids::DagId;
use crate::spec::DagSpec;
use crate::state::{RunState, RunTrigger};
use crate::yaml::Pos;

/// One way a DAG's runs start.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    /// What it waits for.
    pub on: TriggerOn,
    /// Events within one window of this length start one run, which lists
    /// them all; none: each event its own run.
    pub debounce: Option<Duration>,
    /// With `all:`: the conditions must all happen within one window of
    /// this length; none: for the same logical date.
    pub within: Option<Duration>,
    /// Where it is declared, for set-level errors.
    pub pos: Pos,
}

/// What a trigger waits for.
#[derive(Clone, Debug, PartialEq)]
pub enum TriggerOn {
    /// A run of this DAG ending in a state `when` accepts.
    Dag {
        /// The upstream DAG.
        dag: DagId,
        /// Which ends count.
        when: UpstreamEnd,
    },
    /// An artifact whose URI matches.
    Artifact(ArtifactPattern),
    /// Every one of these, for the same logical date or within a window.
    All(Vec<TriggerOn>),
    /// Any one of these.
    Any(Vec<TriggerOn>),
}

impl TriggerOn {
    /// Its single conditions (`dag:` and `artifact:`), depth first.
    pub fn leaves(&self) -> Vec<&TriggerOn> {
        match self {
            TriggerOn::All(parts) | TriggerOn::Any(parts) => {
                parts.iter().flat_map(TriggerOn::leaves).collect()
            }
            leaf => vec![leaf],
        }
    }

    /// Whether it waits for several conditions together (an `all:`
    /// anywhere), so a run gathers events until they meet it.
    pub fn awaits_all(&self) -> bool {
        match self {
            TriggerOn::All(_) => true,
            TriggerOn::Any(parts) => parts.iter().any(TriggerOn::awaits_all),
            _ => false,
        }
    }

    /// Whether `events` (as a triggered run lists them) meet it.
    pub fn met_by(&self, events: &[Value]) -> bool {
        match self {
            TriggerOn::All(parts) => parts.iter().all(|p| p.met_by(events)),
            TriggerOn::Any(parts) => parts.iter().any(|p| p.met_by(events)),
            leaf => events.iter().any(|e| leaf.matches_event(e)),
        }
    }

    /// The conditions `events` do not meet yet, as written (`dag: x`,
    /// `artifact: s3://...`): what a gathering run still waits for.
    pub fn unmet(&self, events: &[Value]) -> Vec<String> {
        if self.met_by(events) {
            return Vec::new();
        }
        match self {
            TriggerOn::All(parts) => parts.iter().flat_map(|p| p.unmet(events)).collect(),
            _ => vec![self.describe()],
        }
    }

    /// The condition as written, on one line.
    fn describe(&self) -> String {
        let joined = |parts: &[TriggerOn], word: &str| {
            let parts: Vec<String> = parts.iter().map(TriggerOn::describe).collect();
            format!("({})", parts.join(word))
        };
        match self {
            TriggerOn::Dag { dag, .. } => format!("dag: {dag}"),
            TriggerOn::Artifact(pattern) => format!("artifact: {}", pattern.as_str()),
            TriggerOn::All(parts) => joined(parts, " and "),
            TriggerOn::Any(parts) => joined(parts, " or "),
        }
    }

    /// Whether a single condition matches an event as a run lists it:
    /// `{dag, state, ...}` of a run that ended, `{uri, ...}` of an
    /// artifact.
    fn matches_event(&self, event: &Value) -> bool {
        match self {
            TriggerOn::Dag { dag, when } => {
                event["dag"].as_str() == Some(dag.as_str())
                    && event["state"]
                        .as_str()
                        .and_then(|s| s.parse::<RunState>().ok())
                        .is_some_and(|state| when.accepts(state))
            }
            TriggerOn::Artifact(pattern) => event["uri"]
                .as_str()
                .is_some_and(|uri| pattern.matches(uri).is_some()),
            TriggerOn::All(_) | TriggerOn::Any(_) => self.met_by(std::slice::from_ref(event)),
        }
    }
}

/// Which ends of an upstream run start a downstream one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamEnd {
    /// Only `succeeded` (the default).
    Succeeded,
    /// Only `failed`.
    Failed,
    /// Any end: succeeded, failed or cancelled.
    Any,
}

impl UpstreamEnd {
    /// Reads `succeeded`, `failed` or `any`.
    pub fn parse(text: &str) -> Option<UpstreamEnd> {
        match text {
            "succeeded" => Some(UpstreamEnd::Succeeded),
            "failed" => Some(UpstreamEnd::Failed),
            "any" => Some(UpstreamEnd::Any),
            _ => None,
        }
    }

    /// Whether a run that ended in `state` counts.
    pub fn accepts(self, state: RunState) -> bool {
        match self {
            UpstreamEnd::Succeeded => state == RunState::Succeeded,
            UpstreamEnd::Failed => state == RunState::Failed,
            UpstreamEnd::Any => state.is_terminal(),
        }
    }
}

impl RunTrigger {
    /// What a run an `all:` trigger gathers still waits for (its trigger
    /// as `spec` declares it); empty for any other run.
    pub fn unmet(&self, spec: &DagSpec) -> Vec<String> {
        match spec.triggers.get(self.index) {
            Some(declared) if self.awaits_all => declared.on.unmet(&self.events),
            _ => Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `{name}`: one or more characters other than `/`, kept as a param.
    Named(String),
    /// `*`: any characters other than `/`, none included.
    Star,
}

/// A URI pattern: `s3://bucket/raw/{date}/*.parquet`. `{name}` matches a
/// non-empty part of one path segment and becomes the param `name`; `*`
/// matches any part of one segment; everything else matches itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactPattern {
    text: String,
    parts: Vec<Part>,
}

impl ArtifactPattern {
    /// Reads a pattern; an error says what is wrong with it.
    pub fn parse(text: &str) -> Result<ArtifactPattern, String> {
        if text.trim().is_empty() {
            return Err("an artifact pattern cannot be empty".into());
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let Some(end) = after.find('}') else {
                    return Err(format!("`{{` without its `}}` in `{text}`"));
                };
                let name = &after[..end];
                let valid = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    return Err(format!(
                        "`{{{name}}}` in `{text}`: a named part is a lowercase name (letters, digits, `_`), like `{{date}}`"
                    ));
                }
                if parts.iter().any(|p| p == &Part::Named(name.to_string())) {
                    return Err(format!("`{{{name}}}` appears twice in `{text}`"));
                }
                parts.push(Part::Named(name.to_string()));
                rest = &after[end + 1..];
            } else if let Some(after) = rest.strip_prefix('*') {
                parts.push(Part::Star);
                rest = after;
            } else if rest.starts_with('}') {
                return Err(format!("`}}` without its `{{` in `{text}`"));
            } else {
                let end = rest.find(['{', '}', '*']).unwrap_or(rest.len());
                parts.push(Part::Text(rest[..end].to_string()));
                rest = &rest[end..];
            }
            if let [.., a, b] = parts.as_slice()
                && !matches!(a, Part::Text(_))
                && !matches!(b, Part::Text(_))
            {
                return Err(format!(
                    "two wildcards side by side in `{text}` cannot be told apart; put text between them"
                ));
            }
        }
        Ok(ArtifactPattern {
            text: text.to_string(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The names of its `{name}` parts, in order.
    pub fn names(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Named(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The named parts of `uri` if it matches, as params.
    pub fn matches(&self, uri: &str) -> Option<Map<String, Value>> {
        let mut found = Map::new();
        match_parts(&self.parts, uri, &mut found).then_some(found)
    }
}

fn match_parts(parts: &[Part], text: &str, found: &mut Map<String, Value>) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return text.is_empty();
    };
    match first {
        Part::Text(literal) => text
            .strip_prefix(literal.as_str())
            .is_some_and(|after| match_parts(rest, after, found)),
        Part::Named(_) | Part::Star => {
            let segment = text.find('/').unwrap_or(text.len());
            let least = usize::from(matches!(first, Part::Named(_)));
            // Longest first, so `{name}.csv` keeps dots inside the name.
            for end in (least..=segment).rev() {
                if !text.is_char_boundary(end) {
                    continue;
                }
                if match_parts(rest, &text[end..], found) {
                    if let Part::Named(name) = first {
                        found.insert(name.clone(), Value::String(text[..end].to_string()));
                    }
                    return true;
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parts_become_params_and_stars_match_within_a_segment() {
        let pattern = ArtifactPattern::parse("s3://lake/raw/{date}/*.parquet").unwrap();
        assert_eq!(pattern.names(), ["date"]);
        let params = pattern
            .matches("s3://lake/raw/2026-11-21/part-0001.parquet")
            .unwrap();
        assert_eq!(params["date"], "2026-11-21");
        assert!(
            pattern
                .matches("s3://lake/raw/2026-11-21/a/b.parquet")
                .is_none()
        );
        assert!(
            pattern.matches("s3://lake/raw//x.parquet").is_none(),
            "a name is never empty"
        );
        assert!(pattern.matches("s3://lake/raw/2026-11-21/x.csv").is_none());
        assert!(
            pattern
                .matches("s3://lake/raw/2026-11-21/.parquet")
                .is_some()
        );
        let two = ArtifactPattern::parse("s3://b/{table}/{day}.v{n}.csv").unwrap();
        let got = two.matches("s3://b/orders/2026.11.21.v3.csv").unwrap();
        assert_eq!(
            (&got["table"], &got["day"], &got["n"]),
            (&"orders".into(), &"2026.11.21".into(), &"3".into())
        );
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (text, says) in [
            ("", "empty"),
            ("s3://b/{date", "without its `}`"),
            ("s3://b/date}", "without its `{`"),
            ("s3://b/{Date}/x", "lowercase name"),
            ("s3://b/{}/x", "lowercase name"),
            ("s3://b/{a}{b}", "side by side"),
            ("s3://b/{a}*", "side by side"),
            ("s3://b/{a}/{a}", "twice"),
        ] {
            let error = ArtifactPattern::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn all_and_any_are_met_by_the_events_a_run_lists() {
        let dag = |name: &str| TriggerOn::Dag {
            dag: DagId::parse(name).unwrap(),
            when: UpstreamEnd::Succeeded,
        };
        let artifact = |p: &str| TriggerOn::Artifact(ArtifactPattern::parse(p).unwrap());
        // (etl & (orders | refunds))
        let on = TriggerOn::All(vec![
            dag("etl"),
            TriggerOn::Any(vec![
                artifact("s3://b/orders/*"),
                artifact("s3://b/refunds/*"),
            ]),
        ]);
        assert!(on.awaits_all());
        assert_eq!(on.leaves().len(), 3);
        let etl_ok = serde_json::json!({"dag": "etl", "state": "succeeded"});
        let etl_failed = serde_json::json!({"dag": "etl", "state": "failed"});
        let refunds = serde_json::json!({"uri": "s3://b/refunds/x"});
        assert!(!on.met_by(std::slice::from_ref(&etl_ok)));
        assert!(!on.met_by(&[etl_failed.clone(), refunds.clone()]));
        assert!(on.met_by(&[refunds.clone(), etl_ok.clone()]));
        assert_eq!(
            on.unmet(&[etl_failed]),
            [
                "dag: etl",
                "(artifact: s3://b/orders/* or artifact: s3://b/refunds/*)"
            ]
        );
        assert_eq!(on.unmet(&[refunds]), ["dag: etl"]);
        let any = TriggerOn::Any(vec![dag("a"), dag("b")]);
        assert!(!any.awaits_all());
    }

    #[test]
    fn upstream_ends_accept_their_states() {
        use RunState::*;
        let accepted = |end: UpstreamEnd| {
            [Succeeded, Failed, Cancelled, Running]
                .into_iter()
                .filter(|s| end.accepts(*s))
                .collect::<Vec<_>>()
        };
        assert_eq!(accepted(UpstreamEnd::Succeeded), [Succeeded]);
        assert_eq!(accepted(UpstreamEnd::Failed), [Failed]);
        assert_eq!(accepted(UpstreamEnd::Any), [Succeeded, Failed, Cancelled]);
    }
}
