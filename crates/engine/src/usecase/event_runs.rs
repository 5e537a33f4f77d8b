//! Data-driven and cross-DAG runs: a run of another DAG that ended, or an
//! artifact that appeared (produced by a run, or an object created in a
//! watched bucket), starts a run of each DAG whose `triggers:` wait for it.
//!
//! Run endings and produced artifacts reach this through the outbox, so a
//! process that dies after the change still starts the runs it implies (the
//! next tick publishes the outbox, and reacts first). Every start is
//! idempotent: the run's id derives from the event (from the upstream
//! run's logical date, the event's time, or with `debounce` the start of
//! its window), so an event delivered twice starts one run.
//!
//! An `all:` trigger gathers its events in a queued run — one per logical
//! date, or per `within` window — that starts as soon as they meet its
//! conditions; a window that ends first cancels it.

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use updraft_core::notify::{ARTIFACT_PRODUCED, Notice, RUN_STATE_CHANGE};
use updraft_core::plan::artifact_extras;
use updraft_core::schedule::RunTiming;
use updraft_core::spec::{DagSpec, TriggerOn};
use updraft_core::state::{
    ArtifactRecord, ArtifactUse, Run, RunKind, RunState, RunTrigger, TaskKey, run_id,
};

use super::RunRequest;
use crate::events::Event;
use crate::{Engine, EngineResult};

/// [`Run::triggered_by`] of the runs events start (through `triggers:`).
pub const BY_EVENTS: &str = "trigger";

/// An event a trigger may start a run on.
#[derive(Clone, Debug, PartialEq)]
enum TriggerEvent {
    /// A run ended.
    RunEnded {
        /// The run as it ended.
        run: Box<Run>,
        /// When it ended.
        at: DateTime<Utc>,
    },
    /// An artifact appeared.
    Artifact {
        /// Its URI.
        uri: String,
        /// Its object version, where the store keeps versions.
        version: Option<String>,
        /// When it appeared.
        at: DateTime<Utc>,
        /// The run and task that produced it, if an updraft run did.
        producer: Option<Value>,
        /// What its producer said of it (`{"uri", "extra"}` in an output's
        /// `artifacts`).
        extra: Option<Value>,
    },
}

impl Engine {
    /// Starts the runs the events of changes imply: `triggers:` on runs
    /// that ended and on artifacts runs produced.
    pub(crate) fn react<'a>(&'a self, notices: &'a [Notice]) -> BoxFuture<'a, EngineResult<()>> {
        // Boxed with its type named: starting a run announces it, which
        // reacts again, and an unnamed future could not be proven Send.
        Box::pin(async move {
            let mut events = Vec::new();
            for notice in notices {
                let detail = &notice.detail;
                let text = |name: &str| detail[name].as_str().unwrap_or_default().to_string();
                if notice.detail_type == RUN_STATE_CHANGE {
                    let Ok(ended) = text("state").parse::<RunState>() else {
                        continue;
                    };
                    if !ended.is_terminal() {
                        continue;
                    }
                    let stored = self.ports.store.run(&text("dag"), &text("run_id")).await?;
                    if let Some(mut run) = stored {
                        // As it ended, though a rerun may have opened it since.
                        run.state = ended;
                        events.push(TriggerEvent::RunEnded {
                            run: Box::new(run),
                            at: notice.time,
                        });
                    }
                } else if notice.detail_type == ARTIFACT_PRODUCED {
                    let producer = json!({
                        "dag": detail["dag"],
                        "run_id": detail["run_id"],
                        "task": detail["task"],
                        "map_index": detail["map_index"],
                        "try": detail["try"],
                    });
                    for (uri, extra) in self.produced_by(detail).await? {
                        events.push(TriggerEvent::Artifact {
                            uri,
                            version: None,
                            at: notice.time,
                            producer: Some(producer.clone()),
                            extra,
                        });
                    }
                }
            }
            if !events.is_empty() {
                self.start_for(&events).await?;
            }
            Ok(())
        })
    }

    /// Starts (or joins) the runs of every DAG whose triggers `events`
    /// match, over the current specs; returns them.
    async fn start_for(&self, events: &[TriggerEvent]) -> EngineResult<Vec<Run>> {
        let loaded = self.sync_specs().await?;
        let mut started = Vec::new();
        for event in events {
            for (spec, _) in &loaded.dags {
                started.extend(self.start_triggered(spec, event).await?);
            }
        }
        Ok(started)
    }

    /// Every artifact the try an `Artifact Produced` event names produced,
    /// with its `extra`: the event lists the first hundred, the try's
    /// record all of them and what its output says of each.
    async fn produced_by(&self, detail: &Value) -> EngineResult<Vec<(String, Option<Value>)>> {
        let listed: Vec<(String, Option<Value>)> = detail["uris"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(|u| (u.to_string(), None)))
            .collect();
        let all_listed = detail["uri_count"].as_u64() == Some(listed.len() as u64);
        if all_listed && detail["with_extra"] != json!(true) {
            return Ok(listed);
        }
        let text = |name: &str| detail[name].as_str().unwrap_or_default();
        let (Ok(task), Some(try_number)) = (
            updraft_core::ids::TaskId::parse(text("task")),
            detail["try"].as_u64(),
        ) else {
            return Ok(listed);
        };
        let key = TaskKey {
            task_id: task,
            map_index: detail["map_index"].as_u64().map(|i| i as u32),
        };
        let attempt = self
            .ports
            .store
            .attempt(text("dag"), text("run_id"), &key, try_number as u32)
            .await?;
        let Some(attempt) = attempt else {
            return Ok(listed);
        };
        let extras = attempt
            .output
            .as_ref()
            .map(artifact_extras)
            .unwrap_or_default();
        Ok(attempt
            .produced
            .into_iter()
            .map(|uri| {
                let extra = extras.get(&uri).cloned();
                (uri, extra)
            })
            .collect())
    }

    /// An object created in a watched bucket (on AWS, its S3 event through
    /// EventBridge): starts the runs whose `artifact:` triggers match it.
    /// Returns the runs started or joined.
    pub async fn artifact_appeared(
        &self,
        uri: &str,
        version: Option<String>,
        at: DateTime<Utc>,
    ) -> EngineResult<Vec<Run>> {
        let event = TriggerEvent::Artifact {
            uri: uri.to_string(),
            version,
            at,
            producer: None,
            extra: None,
        };
        self.start_for(&[event]).await
    }

    /// Starts (or, with `debounce`, joins) a run of `spec` for each of its
    /// triggers that `event` matches; paused DAGs start none.
    async fn start_triggered(
        &self,
        spec: &DagSpec,
        event: &TriggerEvent,
    ) -> EngineResult<Vec<Run>> {
        let mut started = Vec::new();
        for (index, trigger) in spec.triggers.iter().enumerate() {
            let Some((record, params, timing)) = matched(&trigger.on, event) else {
                continue;
            };
            if self.is_paused(spec.id.as_str()).await? {
                return Ok(started);
            }
            let run = match trigger.debounce {
                _ if trigger.on.awaits_all() => {
                    let timing = match trigger.within {
                        Some(width) => window_of(event_time(event), width),
                        None => self.logical_timing(event, timing).await?,
                    };
                    let until = trigger.within.map(|_| timing.data_interval_end);
                    self.gather(spec, index, timing, params, record, until, true)
                        .await?
                }
                None => {
                    let id = run_id(RunKind::Triggered, timing.logical_date, spec.schedule.tz());
                    let trigger = RunTrigger {
                        index,
                        events: vec![record.clone()],
                        gather_until: None,
                        awaits_all: false,
                    };
                    let made = self
                        .make_triggered(spec, id.clone(), timing, params, trigger)
                        .await?;
                    if made.is_none() {
                        self.emit(Event::Dropped {
                            what: format!("{}/{id}: already started by the same event", spec.id),
                        });
                    }
                    made
                }
                Some(window) => {
                    let timing = window_of(timing.logical_date, window);
                    let until = Some(timing.data_interval_end);
                    self.gather(spec, index, timing, params, record, until, false)
                        .await?
                }
            };
            if let Some(run) = run {
                if let TriggerEvent::Artifact { uri, .. } = event {
                    self.record_consumed(spec, &run, uri).await?;
                }
                started.push(run);
            }
        }
        Ok(started)
    }

    /// Creates a triggered run unless its id exists (the event came twice).
    async fn make_triggered(
        &self,
        spec: &DagSpec,
        id: String,
        timing: RunTiming,
        params: Map<String, Value>,
        trigger: RunTrigger,
    ) -> EngineResult<Option<Run>> {
        let request = RunRequest {
            params,
            triggered_by: BY_EVENTS.to_string(),
            ..RunRequest::default()
        };
        let created = self
            .create_run(spec, RunKind::Triggered, id, timing, request, Some(trigger))
            .await?;
        let Some(run) = created else {
            return Ok(None);
        };
        Ok(self
            .advance(spec.id.as_str(), &run.run_id)
            .await?
            .or(Some(run)))
    }

    /// Adds an event to the run that gathers it — of its `debounce`
    /// window, or of an `all:` trigger's logical date or window — creating
    /// the run with the first event; an event already listed adds nothing,
    /// and one arriving after the run started is dropped (reported).
    /// Returns the run if it lists the event.
    #[allow(clippy::too_many_arguments)]
    async fn gather(
        &self,
        spec: &DagSpec,
        index: usize,
        timing: RunTiming,
        params: Map<String, Value>,
        record: Value,
        gather_until: Option<DateTime<Utc>>,
        awaits_all: bool,
    ) -> EngineResult<Option<Run>> {
        let dag = spec.id.as_str();
        let id = run_id(RunKind::Triggered, timing.logical_date, spec.schedule.tz());
        let trigger = RunTrigger {
            index,
            events: vec![record.clone()],
            gather_until,
            awaits_all,
        };
        if let Some(run) = self
            .make_triggered(spec, id.clone(), timing, params, trigger)
            .await?
        {
            return Ok(Some(run));
        }
        self.modify_run(dag, &id, |run| {
            let Some(trigger) = run.trigger.as_mut() else {
                return false;
            };
            let gathers = trigger.gather_until.is_some() || trigger.awaits_all;
            let open = run.state == RunState::Queued && gathers;
            if !open || trigger.events.contains(&record) {
                return false;
            }
            trigger.events.push(record.clone());
            true
        })
        .await?;
        let run = self.ports.store.run(dag, &id).await?;
        let listed = run.as_ref().is_some_and(|r| {
            r.trigger
                .as_ref()
                .is_some_and(|t| t.events.contains(&record))
        });
        if !listed {
            self.emit(Event::Dropped {
                what: format!("{dag}/{id}: an event after the run gathering it started"),
            });
            return Ok(None);
        }
        if awaits_all {
            // This event may be the one that meets the conditions.
            return Ok(self.advance(dag, &id).await?.or(run));
        }
        Ok(run)
    }

    /// The timing of the run an `all:` trigger gathers `event` into, by
    /// logical date: an upstream run's; a produced artifact's producing
    /// run's; an object's (from a watched bucket) when it appeared.
    async fn logical_timing(
        &self,
        event: &TriggerEvent,
        own: RunTiming,
    ) -> EngineResult<RunTiming> {
        let TriggerEvent::Artifact {
            producer: Some(producer),
            ..
        } = event
        else {
            return Ok(own);
        };
        let text = |name: &str| producer[name].as_str().unwrap_or_default();
        let producing = self.ports.store.run(text("dag"), text("run_id")).await?;
        Ok(producing.map_or(own, |run| run.timing()))
    }

    /// Records that a triggered run consumes the artifact that started it,
    /// as each of its first tasks' first try: lineage then links the run
    /// that produced it to this one.
    async fn record_consumed(&self, spec: &DagSpec, run: &Run, uri: &str) -> EngineResult<()> {
        let records: Vec<ArtifactRecord> = spec
            .tasks
            .iter()
            .filter(|t| t.upstream.is_empty())
            .map(|t| ArtifactRecord {
                uri: uri.to_string(),
                used: ArtifactUse::Consumed,
                dag: spec.id.clone(),
                run_id: run.run_id.clone(),
                key: TaskKey::task(t.id.clone()),
                try_number: 1,
                at: self.ports.clock.now(),
            })
            .collect();
        self.ports.store.put_artifacts(&records).await?;
        Ok(())
    }

    /// Whether a queued triggered run may start: its `debounce` window is
    /// open, or its `all:` trigger's conditions are not met yet (and its
    /// window, if any, has lapsed).
    pub(crate) fn gathering(&self, run: &Run, spec: &DagSpec) -> Gathering {
        let Some(trigger) = &run.trigger else {
            return Gathering::Done;
        };
        let open = trigger
            .gather_until
            .is_some_and(|until| until > self.ports.clock.now());
        if !trigger.awaits_all {
            return if open {
                Gathering::Open
            } else {
                Gathering::Done
            };
        }
        let unmet = trigger.unmet(spec);
        match (unmet.is_empty(), open || trigger.gather_until.is_none()) {
            (true, _) => Gathering::Done,
            (false, true) => Gathering::Open,
            (false, false) => Gathering::Lapsed(unmet),
        }
    }
}

/// Whether a queued triggered run waits for more events.
#[derive(Debug, PartialEq)]
pub(crate) enum Gathering {
    /// It may start.
    Done,
    /// It waits.
    Open,
    /// Its `all:` window ended with these conditions not met.
    Lapsed(Vec<String>),
}

/// The epoch-aligned window of `width` that `at` falls in, as a run's
/// timing.
fn window_of(at: DateTime<Utc>, width: std::time::Duration) -> RunTiming {
    let width = TimeDelta::from_std(width).unwrap_or(TimeDelta::MAX);
    let width_ms = width.num_milliseconds().max(1);
    let start_ms = at.timestamp_millis().div_euclid(width_ms) * width_ms;
    let start = DateTime::from_timestamp_millis(start_ms).unwrap_or(at);
    RunTiming {
        logical_date: start,
        data_interval_start: start,
        data_interval_end: start + width,
    }
}

/// When an event happened: a run's end, an artifact's appearance.
fn event_time(event: &TriggerEvent) -> DateTime<Utc> {
    match event {
        TriggerEvent::RunEnded { at, .. } | TriggerEvent::Artifact { at, .. } => *at,
    }
}

/// What `on` makes of `event`, if it matches: the event as the run lists
/// it, the params it sets, and the run's timing (an upstream run's; an
/// artifact's time).
fn matched(on: &TriggerOn, event: &TriggerEvent) -> Option<(Value, Map<String, Value>, RunTiming)> {
    match (on, event) {
        (TriggerOn::All(parts) | TriggerOn::Any(parts), _) => {
            parts.iter().find_map(|part| matched(part, event))
        }
        (TriggerOn::Dag { dag, when }, TriggerEvent::RunEnded { run, .. }) => {
            if run.dag != *dag || !when.accepts(run.state) {
                return None;
            }
            let record = json!({
                "dag": run.dag.as_str(),
                "run_id": run.run_id,
                "state": run.state,
                "logical_date": run.logical_date,
            });
            Some((record, Map::new(), run.timing()))
        }
        (
            TriggerOn::Artifact(pattern),
            TriggerEvent::Artifact {
                uri,
                version,
                at,
                producer,
                extra,
            },
        ) => {
            let params = pattern.matches(uri)?;
            let mut record = json!({
                "uri": uri,
                "version": version,
                "producer": producer,
                "at": at,
            });
            if let Some(extra) = extra {
                record["extra"] = extra.clone();
            }
            let timing = RunTiming {
                logical_date: *at,
                data_interval_start: *at,
                data_interval_end: *at,
            };
            Some((record, params, timing))
        }
        _ => None,
    }
}
