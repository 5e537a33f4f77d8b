//! Announce changes: the events a change makes are kept in the store's
//! outbox in the same write as the change, reacted to (the runs their
//! `triggers:` start) and published right after it, and taken out once
//! the publisher took them. What a failure or a dead process leaves in the
//! outbox, the next tick publishes.

use updraft_core::notify::{Notice, approval_notice, artifacts_notice, run_notices, task_notice};
use updraft_core::plan::sla_deadline;
use updraft_core::state::{ArtifactRecord, ArtifactUse, Run, TaskState, TaskTransition};

use crate::events::Event;
use crate::{Announce, Engine, EngineResult};

/// How many events a tick publishes from the outbox at most.
const OUTBOX_PAGE: usize = 100;

impl Engine {
    /// The events of a run's change from `before` (none: the run is new)
    /// to `next`, stored at `revision`, if someone listens: its state
    /// change, its missed `sla` deadline.
    pub(crate) async fn run_change_notices(
        &self,
        before: Option<&Run>,
        next: &Run,
        revision: u64,
    ) -> EngineResult<Vec<Notice>> {
        if matches!(self.announce, Announce::Off) {
            return Ok(Vec::new());
        }
        let spec = self.spec_of(next).await?;
        let mut written = next.clone();
        written.revision = revision;
        let deadline = sla_deadline(&spec, next);
        let now = self.ports.clock.now();
        let notices = run_notices(before, &written, deadline, spec.schedule.tz(), now);
        Ok(notices.into_iter().map(|n| self.linked(n)).collect())
    }

    /// The event of a task transition of `run`, if someone listens and it
    /// is one an event tells (a try that failed).
    pub(crate) async fn task_change_notices(
        &self,
        run: &Run,
        change: &TaskTransition,
    ) -> EngineResult<Vec<Notice>> {
        if matches!(self.announce, Announce::Off) || change.expect_state == change.next.state {
            return Ok(Vec::new());
        }
        let spec = self.spec_of(run).await?;
        let tz = spec.schedule.tz();
        let now = self.ports.clock.now();
        let asked = spec
            .task(change.next.key.task_id.as_str())
            .and_then(|t| t.approval.as_ref())
            .filter(|_| change.next.state == TaskState::Waiting)
            .map(|approval| approval_notice(run, &change.next, approval, tz, now));
        Ok(task_notice(run, &change.next, tz, now)
            .into_iter()
            .chain(asked)
            .map(|notice| self.linked(notice))
            .collect())
    }

    /// The event of the artifacts a succeeded try produced, if someone
    /// listens: what `artifact:` triggers start runs on. `with_extra`: the
    /// try's output says more of some (their `extra`, read from the try).
    pub(crate) async fn artifact_notices(
        &self,
        run: &Run,
        records: &[ArtifactRecord],
        with_extra: bool,
    ) -> EngineResult<Vec<Notice>> {
        let produced: Vec<&ArtifactRecord> = records
            .iter()
            .filter(|r| r.used == ArtifactUse::Produced)
            .collect();
        let Some(first) = produced.first() else {
            return Ok(Vec::new());
        };
        if matches!(self.announce, Announce::Off) {
            return Ok(Vec::new());
        }
        let tz = self.spec_of(run).await?.schedule.tz();
        let uris: Vec<String> = produced.iter().map(|r| r.uri.clone()).collect();
        let now = self.ports.clock.now();
        let mut notice = artifacts_notice(run, &first.key, first.try_number, &uris, tz, now);
        if with_extra {
            notice.detail["with_extra"] = serde_json::Value::Bool(true);
        }
        Ok(vec![self.linked(notice)])
    }

    pub(crate) fn linked(&self, mut notice: Notice) -> Notice {
        let base = self
            .ui_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(base) = base {
            notice.link_under(&base);
        }
        notice
    }

    /// Publishes events a change just kept in the outbox and takes out
    /// those the publisher took. A failure is reported, never returned:
    /// the change stands, and the tick publishes the rest.
    pub(crate) async fn publish_kept(&self, notices: &[Notice]) {
        if notices.is_empty() || !matches!(self.announce, Announce::Publish(_)) {
            return;
        }
        if let Err(error) = self.publish_and_clear(notices).await {
            self.emit(Event::Unpublished {
                count: notices.len(),
                error,
            });
        }
    }

    async fn publish_and_clear(&self, notices: &[Notice]) -> Result<usize, String> {
        let Announce::Publish(publisher) = &self.announce else {
            return Ok(0);
        };
        // The runs the changes start come first: what fails here stays in
        // the outbox, published and reacted to again by the next tick.
        self.react(notices).await.map_err(|e| e.to_string())?;
        let taken = publisher
            .publish(notices)
            .await
            .map_err(|e| e.to_string())?;
        if !taken.is_empty() {
            self.ports
                .store
                .clear_outbox(&taken)
                .await
                .map_err(|e| e.to_string())?;
        }
        match notices.len() - taken.len() {
            0 => Ok(taken.len()),
            left => Err(format!("{left} event(s) not taken by the bus")),
        }
    }

    /// Publishes what the outbox holds (a page at a time, up to
    /// `OUTBOX_PAGE`): events whose publishing failed or whose process died
    /// after the change. Returns whether any may be left for the next tick
    /// (a full page, or a bus that refused them).
    pub async fn publish_outbox(&self) -> EngineResult<bool> {
        if !matches!(self.announce, Announce::Publish(_)) {
            return Ok(false);
        }
        let pending = self.ports.store.outbox(OUTBOX_PAGE).await?;
        if pending.is_empty() {
            return Ok(false);
        }
        match self.publish_and_clear(&pending).await {
            Ok(published) => Ok(published == OUTBOX_PAGE),
            Err(error) => {
                self.emit(Event::Unpublished {
                    count: pending.len(),
                    error,
                });
                Ok(true)
            }
        }
    }
}
