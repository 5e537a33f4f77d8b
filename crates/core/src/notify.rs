//! The events updraft emits for others to react to (an EventBridge bus,
//! `updraft dev --on-event`): each run state change, each try that
//! fails — retried or given up — each artifact a try produced, and each
//! run that missed its `sla`. They are read off the transitions a plan
//! or a use case applies, and each carries an id derived from its
//! transition, so a replayed transition gives the same id and a consumer
//! can drop the duplicates that at-least-once delivery allows.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::spec::Approval;
use crate::state::{Run, TaskInstance, TaskKey, TaskState};

/// The `source` of every event.
pub const SOURCE: &str = "updraft";
/// The `detail-type` of a run's state change.
pub const RUN_STATE_CHANGE: &str = "updraft Run State Change";
/// The `detail-type` of a try that failed.
pub const TASK_STATE_CHANGE: &str = "updraft Task State Change";
/// The most artifact URIs one event lists.
pub const MAX_LISTED_URIS: usize = 100;
/// The `detail-type` of the artifacts a succeeded try produced.
pub const ARTIFACT_PRODUCED: &str = "updraft Artifact Produced";
/// The `detail-type` of a run not succeeded by its DAG's `sla`.
pub const RUN_DEADLINE_MISSED: &str = "updraft Run Deadline Missed";
/// The `detail-type` of an approval that waits for a person.
pub const APPROVAL_REQUESTED: &str = "updraft Approval Requested";

/// One event to emit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Derived from the transition: the same change, the same id.
    pub id: String,
    /// [`RUN_STATE_CHANGE`], [`TASK_STATE_CHANGE`], [`ARTIFACT_PRODUCED`]
    /// or [`RUN_DEADLINE_MISSED`].
    pub detail_type: String,
    /// When the change was made.
    pub time: DateTime<Utc>,
    /// What a consumer matches on and reads.
    pub detail: Value,
}

impl Notice {
    /// An event whose detail also carries its id: EventBridge gives each
    /// event an id of its own, so consumers drop duplicates by `detail.id`.
    fn new(
        id: String,
        detail_type: &str,
        time: DateTime<Utc>,
        mut detail: serde_json::Map<String, Value>,
    ) -> Notice {
        detail.insert("id".into(), json!(id));
        Notice {
            id,
            detail_type: detail_type.into(),
            time,
            detail: Value::Object(detail),
        }
    }

    /// The event as a consumer receives it: EventBridge's envelope, also
    /// what `updraft dev --on-event` writes to its command's stdin.
    pub fn envelope(&self, account: &str, region: &str) -> Value {
        json!({
            "version": "0",
            "id": self.id,
            "detail-type": self.detail_type,
            "source": SOURCE,
            "account": account,
            "time": self.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            "region": region,
            "resources": [],
            "detail": self.detail,
        })
    }

    /// Adds the link to the run's dashboard page under `base` (the URL the
    /// dashboard is served at).
    pub fn link_under(&mut self, base: &str) {
        let (Some(dag), Some(run_id)) =
            (self.detail["dag"].as_str(), self.detail["run_id"].as_str())
        else {
            return;
        };
        let link = format!(
            "{}{}",
            base.trim_end_matches('/'),
            crate::links::run_path(dag, run_id)
        );
        if let Value::Object(detail) = &mut self.detail {
            detail.insert("ui".into(), json!(link));
        }
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    crate::ids::hex(&hash.finalize()[..16])
}

/// A time in the DAG's zone, as events tell it.
fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// What every event says of its run.
fn run_fields(run: &Run, tz: Tz) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("dag".into(), json!(run.dag.as_str()));
    fields.insert("run_id".into(), json!(run.run_id));
    fields.insert("logical_date".into(), json!(local(run.logical_date, tz)));
    fields.insert("triggered_by".into(), json!(run.triggered_by));
    fields.insert("labels".into(), json!(run.labels));
    fields.insert("spec_version".into(), json!(run.spec_version));
    fields
}

/// The event of a run now in `run.state` (at `run.revision`, the revision
/// its change wrote), changed at `time`.
pub fn run_notice(run: &Run, tz: Tz, time: DateTime<Utc>) -> Notice {
    let mut detail = run_fields(run, tz);
    detail.insert("state".into(), json!(run.state));
    detail.insert("reason".into(), json!(run.reason));
    let id = digest(&[
        run.dag.as_str(),
        &run.run_id,
        "run",
        run.state.as_str(),
        &run.revision.to_string(),
    ]);
    Notice::new(id, RUN_STATE_CHANGE, time, detail)
}

/// What every event of one try says: its run's fields, and the task,
/// map index and try.
fn try_fields(run: &Run, key: &TaskKey, try_number: u32, tz: Tz) -> serde_json::Map<String, Value> {
    let mut fields = run_fields(run, tz);
    fields.insert("task".into(), json!(key.task_id.as_str()));
    fields.insert("map_index".into(), json!(key.map_index));
    fields.insert("try".into(), json!(try_number));
    fields
}

/// The id of an event of one try; `what` tells its kinds apart.
fn try_id(run: &Run, key: &TaskKey, try_number: u32, what: &str) -> String {
    let map_index = key.map_index.map(|i| i.to_string());
    digest(&[
        run.dag.as_str(),
        &run.run_id,
        key.task_id.as_str(),
        map_index.as_deref().unwrap_or("-"),
        &try_number.to_string(),
        what,
    ])
}

/// The events of a run's change from `before` (none: the run is new) to
/// `written` (as stored, at the revision the change wrote): its state
/// change, and its missed deadline when the change notes one. `deadline`
/// is when the run should have succeeded.
pub fn run_notices(
    before: Option<&Run>,
    written: &Run,
    deadline: Option<DateTime<Utc>>,
    tz: Tz,
    time: DateTime<Utc>,
) -> Vec<Notice> {
    let mut out = Vec::new();
    if before.is_none_or(|b| b.state != written.state) {
        out.push(run_notice(written, tz, time));
    }
    let newly_missed = written.deadline_missed_at.is_some()
        && before.is_none_or(|b| b.deadline_missed_at.is_none());
    if newly_missed {
        let mut detail = run_fields(written, tz);
        detail.insert("state".into(), json!(written.state));
        detail.insert("deadline".into(), json!(deadline.map(|d| local(d, tz))));
        let id = digest(&[written.dag.as_str(), &written.run_id, "deadline"]);
        out.push(Notice::new(id, RUN_DEADLINE_MISSED, time, detail));
    }
    out
}

/// The event of the artifacts (`uris`) that try `try_number` of `key` in
/// `run` produced: what `artifact:` triggers start runs on. One event per
/// try, however many it produced, so a try's end stays one write; it lists
/// the first [`MAX_LISTED_URIS`] and counts them all (`uri_count`), so it
/// stays within EventBridge's 256 KB an entry.
pub fn artifacts_notice(
    run: &Run,
    key: &TaskKey,
    try_number: u32,
    uris: &[String],
    tz: Tz,
    time: DateTime<Utc>,
) -> Notice {
    let mut detail = try_fields(run, key, try_number, tz);
    let listed = &uris[..uris.len().min(MAX_LISTED_URIS)];
    detail.insert("uris".into(), json!(listed));
    detail.insert("uri_count".into(), json!(uris.len()));
    let id = try_id(run, key, try_number, "artifacts");
    Notice::new(id, ARTIFACT_PRODUCED, time, detail)
}

/// The event of a try of `instance` that failed: `retry_wait` (it will be
/// tried again) or `failed` (it gave up); none for any other state.
pub fn task_notice(
    run: &Run,
    instance: &TaskInstance,
    tz: Tz,
    time: DateTime<Utc>,
) -> Option<Notice> {
    let gave_up = match instance.state {
        TaskState::RetryWait => false,
        TaskState::Failed => true,
        _ => return None,
    };
    let (key, try_number) = (&instance.key, instance.try_number);
    let mut detail = try_fields(run, key, try_number, tz);
    detail.insert("state".into(), json!(instance.state));
    detail.insert("gave_up".into(), json!(gave_up));
    detail.insert("reason".into(), json!(instance.reason));
    let id = try_id(run, key, try_number, instance.state.as_str());
    Some(Notice::new(id, TASK_STATE_CHANGE, time, detail))
}

/// The event of an approval task that starts waiting for a person: what
/// is asked, the choices, and until when (then its default is taken).
pub fn approval_notice(
    run: &Run,
    instance: &TaskInstance,
    approval: &Approval,
    tz: Tz,
    time: DateTime<Utc>,
) -> Notice {
    let (key, try_number) = (&instance.key, instance.try_number);
    let mut detail = try_fields(run, key, try_number, tz);
    let until = instance
        .started_at
        .map(|s| s + chrono::Duration::from_std(approval.timeout).unwrap_or(chrono::Duration::MAX));
    detail.insert("prompt".into(), json!(approval.prompt));
    detail.insert("options".into(), json!(approval.options));
    detail.insert("default".into(), json!(approval.default));
    detail.insert(
        "until".into(),
        json!(until.map(|u| {
            u.with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        })),
    );
    let id = try_id(run, key, try_number, "approval");
    Notice::new(id, APPROVAL_REQUESTED, time, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DagId, TaskId};
    use crate::state::{RunKind, RunState, RunTransition, TaskTransition, Transition};
    use chrono::{DateTime, Utc};

    /// The events of transitions applied to `run`, as the engine reads
    /// them off a plan.
    fn notices(run: &Run, transitions: &[Transition], tz: Tz, time: DateTime<Utc>) -> Vec<Notice> {
        let mut out = Vec::new();
        for transition in transitions {
            match transition {
                Transition::Run(change) => {
                    let mut written = change.next.clone();
                    written.revision += 1;
                    out.extend(run_notices(Some(run), &written, None, tz, time));
                }
                Transition::Task(change) if change.expect_state != change.next.state => {
                    out.extend(task_notice(run, &change.next, tz, time));
                }
                Transition::Task(_) | Transition::Create(_) => {}
            }
        }
        out
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn run() -> Run {
        Run {
            dag: DagId::parse("etl").unwrap(),
            run_id: "scheduled__2026-11-22T02:00:00+09:00".into(),
            kind: RunKind::Scheduled,
            state: RunState::Running,
            spec_version: "abc123".into(),
            logical_date: at(),
            data_interval_start: at(),
            data_interval_end: at(),
            params: Default::default(),
            labels: vec!["team-ml".into()],
            created_at: at(),
            started_at: Some(at()),
            ended_at: None,
            triggered_by: "schedule".into(),
            reason: None,
            note: None,
            metrics: Default::default(),
            deadline_missed_at: None,
            trigger: None,
            parent: None,
            revision: 3,
        }
    }

    fn failed_try(state: TaskState, try_number: u32) -> TaskTransition {
        let mut next = TaskInstance::pending(TaskKey::task(TaskId::parse("load").unwrap()));
        next.state = state;
        next.try_number = try_number;
        next.reason = Some("exit code 3".into());
        TaskTransition {
            expect_state: TaskState::Running,
            expect_try: try_number,
            next,
            stop_attempt: false,
        }
    }

    #[test]
    fn a_run_ending_and_a_try_giving_up_are_told_in_the_dags_zone() {
        let run = run();
        let mut ended = run.clone();
        ended.state = RunState::Failed;
        ended.reason = Some("task load failed".into());
        let transitions = vec![
            Transition::Task(failed_try(TaskState::Failed, 2)),
            Transition::Run(RunTransition {
                expect_state: RunState::Running,
                next: ended,
            }),
        ];
        let notices = notices(&run, &transitions, chrono_tz::Asia::Tokyo, at());
        assert_eq!(notices.len(), 2);
        let task = &notices[0];
        assert_eq!(task.detail_type, TASK_STATE_CHANGE);
        assert_eq!(task.detail["task"], "load");
        assert_eq!(task.detail["try"], 2);
        assert_eq!(task.detail["gave_up"], true);
        assert_eq!(task.detail["logical_date"], "2026-11-22T02:00:00+09:00");
        let run_event = &notices[1];
        assert_eq!(run_event.detail_type, RUN_STATE_CHANGE);
        assert_eq!(run_event.detail["state"], "failed");
        assert_eq!(run_event.detail["reason"], "task load failed");
        assert_eq!(run_event.detail["triggered_by"], "schedule");
        assert_eq!(run_event.detail["spec_version"], "abc123");
        assert_eq!(run_event.detail["labels"], json!(["team-ml"]));
        assert!(run_event.detail.get("ui").is_none());
    }

    #[test]
    fn a_missed_deadline_is_told_once_beside_the_state_change() {
        let run = run();
        let mut late = run.clone();
        late.deadline_missed_at = Some(at());
        late.revision += 1;
        let deadline = Some(at() - chrono::Duration::hours(1));
        let told = run_notices(Some(&run), &late, deadline, chrono_tz::Asia::Tokyo, at());
        assert_eq!(told.len(), 1, "no state change: only the deadline");
        assert_eq!(told[0].detail_type, RUN_DEADLINE_MISSED);
        assert_eq!(told[0].detail["deadline"], "2026-11-22T01:00:00+09:00");
        assert_eq!(told[0].detail["state"], "running");
        let mut later = late.clone();
        later.state = RunState::Failed;
        later.revision += 1;
        let again = run_notices(Some(&late), &later, deadline, chrono_tz::UTC, at());
        assert_eq!(
            again
                .iter()
                .map(|n| n.detail_type.as_str())
                .collect::<Vec<_>>(),
            [RUN_STATE_CHANGE],
            "noted before: not told again"
        );
        let created = run_notices(None, &run, None, chrono_tz::UTC, at());
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].detail["state"], "running");
    }

    #[test]
    fn the_envelope_is_eventbridges_and_the_link_opens_the_run() {
        let mut notice = run_notice(&run(), chrono_tz::UTC, at());
        notice.link_under("http://localhost:8080/");
        assert_eq!(
            notice.detail["ui"],
            "http://localhost:8080/dags/etl/runs/scheduled__2026-11-22T02%3A00%3A00%2B09%3A00"
        );
        let envelope = notice.envelope("000000000000", "local");
        assert_eq!(envelope["source"], SOURCE);
        assert_eq!(envelope["detail-type"], RUN_STATE_CHANGE);
        assert_eq!(envelope["id"], notice.id.as_str());
        assert_eq!(envelope["time"], "2026-11-21T17:00:00Z");
        assert_eq!(envelope["detail"]["state"], "running");
        assert_eq!(envelope["detail"]["id"], notice.id.as_str());
    }

    #[test]
    fn the_same_transition_gives_the_same_id_and_another_another() {
        let run = run();
        let retry = [Transition::Task(failed_try(TaskState::RetryWait, 1))];
        let first = notices(&run, &retry, chrono_tz::UTC, at());
        assert_eq!(
            first,
            notices(&run, &retry, chrono_tz::UTC, at()),
            "a replay"
        );
        assert_eq!(first[0].detail["gave_up"], false);
        let next_try = [Transition::Task(failed_try(TaskState::RetryWait, 2))];
        assert_ne!(
            first[0].id,
            notices(&run, &next_try, chrono_tz::UTC, at())[0].id
        );
        // A run that runs again after a rerun is a new change: a new id.
        let mut again = run.clone();
        again.revision = 9;
        assert_ne!(
            run_notice(&run, chrono_tz::UTC, at()).id,
            run_notice(&again, chrono_tz::UTC, at()).id
        );
    }

    #[test]
    fn changes_an_event_does_not_tell_give_none() {
        let run = run();
        let mut started = failed_try(TaskState::Running, 1);
        started.expect_state = TaskState::Launching;
        let same_state = Transition::Run(RunTransition {
            expect_state: RunState::Running,
            next: run.clone(),
        });
        assert!(
            notices(
                &run,
                &[Transition::Task(started), same_state],
                chrono_tz::UTC,
                at()
            )
            .is_empty()
        );
    }
}
