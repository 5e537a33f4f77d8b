//! The bodies of the fuzz targets in `fuzz/` (run by `make fuzz`), kept
//! here so that `make test` runs the same code on every seed of the corpus:
//! whatever the bytes, these return, never panic (but where the spec
//! target finds the two YAML readers disagree).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::schedule::{RunTiming, Schedule};
use crate::spec::{SpecFile, parse_spec, validate_set};
use crate::template::{Renderer, TemplateVars};

/// Under a fuzzer, whose panic hook aborts, lets through the panics the
/// code catches on purpose: the YAML library's, which
/// [`crate::yaml::parse`] reports as syntax errors. Call once.
pub fn allow_caught_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let caught = info
            .location()
            .is_some_and(|l| l.file().contains("libyaml-safer"));
        if !caught {
            abort(info);
        }
    }));
}

/// A spec file's text: parsed alone and validated as a set; and wherever
/// the quick YAML reader accepts it, read the same as by the full parser
/// (a difference panics, for the fuzzer to keep).
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(why) = crate::yaml::disagreement(text) {
        panic!("{why}");
    }
    let _ = parse_spec("fuzz.yaml", text);
    let _ = validate_set(&[SpecFile {
        name: "fuzz.yaml".into(),
        text: text.into(),
    }]);
}

/// A template rendered with a fixed run, or a schedule expression parsed
/// and asked for its next point.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let at = DateTime::<Utc>::from_timestamp(1_795_000_000, 0).unwrap_or_default();
    let params: Map<String, Value> = json!({"days": [1, 2], "name": "x"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let outputs: Map<String, Value> = json!({"split": {"shards": ["a", "b"]}})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let item = json!({"shard": 3});
    let vars = TemplateVars {
        dag: "fuzz",
        run_id: "manual__fuzz",
        task_id: "t",
        try_number: 1,
        timing: RunTiming {
            logical_date: at,
            data_interval_start: at,
            data_interval_end: at,
        },
        tz: chrono_tz::Asia::Tokyo,
        params: &params,
        outputs: &outputs,
        item: Some(&item),
        trigger: None,
    };
    let _ = Renderer::new(&vars).render(text);
    if let Ok(schedule) = Schedule::parse(text, chrono_tz::America::New_York) {
        let _ = schedule.next_after(at);
    }
}
