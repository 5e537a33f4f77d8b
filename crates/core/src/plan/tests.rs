//! The planner as stories: what happens to a run, step by step.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::ids::{DagId, TaskId};
use crate::spec::parse_spec;
use crate::state::{RunKind, TaskKey};

/// A run of one spec, driven by hand: each step applies its transitions
/// the way a store would and checks that they all hold.
pub(crate) struct Story {
    pub spec: DagSpec,
    pub run: Run,
    pub instances: Vec<TaskInstance>,
    pub now: DateTime<Utc>,
}

pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

impl Story {
    pub fn new(yaml: &str) -> Story {
        let spec = parse_spec("story.yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
        let run = Run {
            dag: DagId::parse("story").unwrap(),
            run_id: "manual__test".into(),
            kind: RunKind::Manual,
            state: RunState::Queued,
            spec_version: spec.version.clone(),
            logical_date: t0(),
            data_interval_start: t0(),
            data_interval_end: t0(),
            params: Default::default(),
            labels: Vec::new(),
            created_at: t0(),
            started_at: None,
            ended_at: None,
            triggered_by: String::new(),
            note: None,
            reason: None,
            metrics: Default::default(),
            deadline_missed_at: None,
            trigger: None,
            parent: None,
            revision: 0,
        };
        let instances = initial_instances(&spec);
        Story {
            spec,
            run,
            instances,
            now: t0(),
        }
    }

    pub fn apply(&mut self, transitions: &[Transition]) {
        for transition in transitions {
            match transition {
                Transition::Create(instance) => {
                    assert!(
                        !self.instances.iter().any(|i| i.key == instance.key),
                        "created twice: {}",
                        instance.key
                    );
                    self.instances.push(instance.clone());
                }
                Transition::Task(change) => {
                    assert!(apply(&mut self.instances, change), "stale: {change:?}")
                }
                Transition::Run(change) => {
                    assert_eq!(self.run.state, change.expect_state);
                    self.run = change.next.clone();
                }
            }
        }
    }

    /// Plans and applies; returns the keys queued.
    pub fn plan(&mut self) -> Vec<String> {
        let transitions = plan(&self.spec, &self.run, &self.instances, self.now);
        self.apply(&transitions);
        transitions
            .iter()
            .filter_map(|t| match t {
                Transition::Task(c) if c.next.state == TaskState::Queued => {
                    Some(c.next.key.to_string())
                }
                _ => None,
            })
            .collect()
    }

    pub fn instance(&self, task: &str) -> &TaskInstance {
        self.instances
            .iter()
            .find(|i| i.key.task_id.as_str() == task && i.key.map_index.is_none())
            .unwrap()
    }

    pub fn mapped(&self, task: &str, index: u32) -> &TaskInstance {
        self.instances
            .iter()
            .find(|i| i.key.task_id.as_str() == task && i.key.map_index == Some(index))
            .unwrap()
    }

    /// Launches and ends one instance by key.
    pub fn run_key(&mut self, key: &TaskKey, outcome: Outcome) {
        let instance = self
            .instances
            .iter()
            .find(|i| &i.key == key)
            .unwrap()
            .clone();
        let launch = start_launch(&instance, instance.try_number, self.now).expect("queued");
        assert!(apply(&mut self.instances, &launch));
        let running = mark_running(&launch.next, instance.try_number, self.now).unwrap();
        assert!(apply(&mut self.instances, &running));
        let task = self.spec.task(key.task_id.as_str()).unwrap().clone();
        let change =
            complete(&task, &running.next, instance.try_number, outcome, self.now).unwrap();
        assert!(apply(&mut self.instances, &change));
    }

    pub fn state(&self, task: &str) -> (TaskState, u32) {
        let i = self.instance(task);
        (i.state, i.try_number)
    }

    /// Launches the queued try of `task` and reports it running.
    pub fn start(&mut self, task: &str) {
        let instance = self.instance(task).clone();
        let launch =
            start_launch(&instance, instance.try_number, self.now).expect("task is queued");
        assert!(apply(&mut self.instances, &launch));
        let running = mark_running(&launch.next, instance.try_number, self.now).unwrap();
        assert!(apply(&mut self.instances, &running));
    }

    pub fn end(&mut self, task: &str, outcome: Outcome) {
        let instance = self.instance(task).clone();
        let spec_task = self.spec.task(task).unwrap().clone();
        let change = complete(
            &spec_task,
            &instance,
            instance.try_number,
            outcome,
            self.now,
        )
        .expect("task is running");
        assert!(apply(&mut self.instances, &change));
    }

    pub fn run_task(&mut self, task: &str, outcome: Outcome) {
        self.start(task);
        self.end(task, outcome);
    }
}

pub(crate) fn failed(why: &str) -> Outcome {
    Outcome::Failed { reason: why.into() }
}

const CHAIN: &str =
    "dag: d\ntasks:\n  - id: a\n  - id: b\n    after: [a]\n  - id: c\n    after: [b]\n";

#[test]
fn a_chain_runs_task_by_task_and_the_run_succeeds() {
    let mut story = Story::new(CHAIN);
    assert_eq!(story.plan(), ["a"]);
    assert_eq!(story.run.state, RunState::Running);
    assert_eq!(
        story.plan(),
        Vec::<String>::new(),
        "nothing new while a is queued"
    );
    story.run_task("a", Outcome::Succeeded);
    assert_eq!(story.plan(), ["b"]);
    story.run_task("b", Outcome::Succeeded);
    assert_eq!(story.plan(), ["c"]);
    story.run_task("c", Outcome::Succeeded);
    story.plan();
    assert_eq!(story.run.state, RunState::Succeeded);
    assert_eq!(story.run.ended_at, Some(story.now));
    assert_eq!(story.state("c"), (TaskState::Succeeded, 1));
}

#[test]
fn a_failed_task_waits_retry_delay_then_is_queued_with_try_2() {
    let mut story = Story::new(
        "dag: d\ndefaults: { retries: 2, retry_delay: 2m, retry_backoff: 2 }\ntasks:\n  - id: a\n",
    );
    story.plan();
    story.run_task("a", failed("exit code 1"));
    let a = story.instance("a");
    assert_eq!((a.state, a.try_number), (TaskState::RetryWait, 1));
    assert_eq!(a.retry_at, Some(t0() + Duration::minutes(2)));
    assert_eq!(a.reason.as_deref(), Some("exit code 1"));
    story.now += Duration::seconds(119);
    assert_eq!(story.plan(), Vec::<String>::new(), "not before the delay");
    assert_eq!(
        next_wakeup(&story.spec, &story.instances),
        Some(t0() + Duration::minutes(2))
    );
    story.now = t0() + Duration::minutes(2);
    assert_eq!(story.plan(), ["a"]);
    assert_eq!(story.state("a"), (TaskState::Queued, 2));
    story.run_task("a", failed("exit code 1"));
    assert_eq!(
        story.instance("a").retry_at,
        Some(story.now + Duration::minutes(4)),
        "backoff doubles"
    );
    story.now += Duration::minutes(4);
    story.plan();
    story.run_task("a", failed("exit code 1"));
    assert_eq!(
        story.state("a"),
        (TaskState::Failed, 3),
        "two retries, then failed"
    );
    story.plan();
    assert_eq!(story.run.state, RunState::Failed);
}

#[test]
fn a_failure_propagates_upstream_failed_down_the_chain_in_one_plan() {
    let mut story = Story::new(CHAIN);
    story.plan();
    story.run_task("a", failed("boom"));
    assert_eq!(story.plan(), Vec::<String>::new());
    assert_eq!(story.state("b"), (TaskState::UpstreamFailed, 0));
    assert_eq!(story.state("c"), (TaskState::UpstreamFailed, 0));
    assert_eq!(
        story.run.state,
        RunState::Failed,
        "and the run ends in the same plan"
    );
}

#[test]
fn all_done_runs_after_a_failure_and_the_run_still_fails() {
    let yaml = "dag: d\ntasks:\n  - id: train\n  - id: evaluate\n    after: [train]\n  - id: report\n    after: [evaluate]\n    trigger_rule: all_done\n";
    let mut story = Story::new(yaml);
    story.plan();
    story.run_task("train", failed("OOM"));
    assert_eq!(story.plan(), ["report"]);
    assert_eq!(story.state("evaluate").0, TaskState::UpstreamFailed);
    story.run_task("report", Outcome::Succeeded);
    story.plan();
    assert_eq!(story.run.state, RunState::Failed);
}

#[test]
fn one_failed_runs_only_on_failure_and_is_skipped_otherwise() {
    let yaml =
        "dag: d\ntasks:\n  - id: a\n  - id: alert\n    after: [a]\n    trigger_rule: one_failed\n";
    let mut ok = Story::new(yaml);
    ok.plan();
    ok.run_task("a", Outcome::Succeeded);
    assert!(ok.plan().is_empty());
    assert_eq!(ok.state("alert").0, TaskState::Skipped);
    assert_eq!(
        ok.run.state,
        RunState::Succeeded,
        "skipped tasks do not fail a run"
    );
    let mut bad = Story::new(yaml);
    bad.plan();
    bad.run_task("a", failed("x"));
    assert_eq!(bad.plan(), ["alert"]);
}

#[test]
fn a_skip_propagates_through_all_success_but_none_failed_runs() {
    let yaml = "dag: d\ntasks:\n  - id: a\n  - id: on_fail\n    after: [a]\n    trigger_rule: one_failed\n  - id: after_skip\n    after: [on_fail]\n  - id: join\n    after: [a, on_fail]\n    trigger_rule: none_failed\n";
    let mut story = Story::new(yaml);
    story.plan();
    story.run_task("a", Outcome::Succeeded);
    assert_eq!(story.plan(), ["join"]);
    assert_eq!(story.state("after_skip").0, TaskState::Skipped);
}

#[test]
fn the_rules_after_a_skip_join_skip_or_run_as_in_airflow() {
    let yaml = "dag: d\ntasks:
  - id: a
  - id: watch
    after: [a]
    trigger_rule: always
  - id: on_fail
    after: [a]
    trigger_rule: one_failed
  - id: if_all_skipped
    after: [on_fail]
    trigger_rule: all_skipped
  - id: unless_skipped
    after: [a, on_fail]
    trigger_rule: none_skipped
  - id: join
    after: [a, on_fail]
    trigger_rule: none_failed_min_one_success
  - id: all_failed
    after: [a]
    trigger_rule: all_failed
  - id: one_done
    after: [on_fail, a]
    trigger_rule: one_done
";
    let mut story = Story::new(yaml);
    assert_eq!(
        story.plan(),
        ["a", "watch"],
        "`always` does not wait for `a`"
    );
    story.run_task("a", Outcome::Succeeded);
    assert_eq!(story.plan(), ["if_all_skipped", "join", "one_done"]);
    for (task, state) in [
        ("on_fail", TaskState::Skipped),
        ("unless_skipped", TaskState::Skipped),
        ("all_failed", TaskState::Skipped),
    ] {
        assert_eq!(story.state(task).0, state, "{task}");
    }
}

#[test]
fn a_join_after_branches_that_were_all_skipped_is_skipped() {
    let yaml = "dag: d\ntasks:
  - id: a
  - id: left
    after: [a]
    trigger_rule: one_failed
  - id: right
    after: [a]
    trigger_rule: one_failed
  - id: join
    after: [left, right]
    trigger_rule: none_failed_min_one_success
  - id: done
    after: [left, right]
    trigger_rule: one_done
";
    let mut story = Story::new(yaml);
    story.plan();
    story.run_task("a", Outcome::Succeeded);
    assert!(story.plan().is_empty());
    assert_eq!(story.state("join").0, TaskState::Skipped);
    assert_eq!(story.state("done").0, TaskState::Skipped);
    assert_eq!(story.run.state, RunState::Succeeded);
}

#[test]
fn a_try_exiting_with_the_skip_code_is_skipped_not_retried() {
    let yaml = "dag: d\ntasks:
  - id: check
    retries: 2
  - id: load
    after: [check]
  - id: report
    after: [check]
    trigger_rule: none_failed
  - id: custom
    skip_exit_code: 3
";
    let mut story = Story::new(yaml);
    story.plan();
    let check = &story.spec.tasks[0];
    let skipped = outcome_of(check, failed("exit code 99"), Some(99));
    assert_eq!(
        skipped,
        Outcome::Skipped {
            reason: "skipped: exit code 99".into()
        }
    );
    assert_eq!(
        outcome_of(check, failed("exit code 3"), Some(3)),
        failed("exit code 3"),
        "another code fails as before"
    );
    let custom = story.spec.task("custom").unwrap();
    assert!(matches!(
        outcome_of(custom, failed("exit code 3"), Some(3)),
        Outcome::Skipped { .. }
    ));
    story.run_task("check", skipped);
    assert_eq!(story.state("check"), (TaskState::Skipped, 1), "not retried");
    assert_eq!(story.plan(), ["report"]);
    assert_eq!(story.state("load").0, TaskState::Skipped);
}

#[test]
fn a_try_past_its_timeout_is_stopped_and_retried() {
    let mut story = Story::new(
        "dag: d\ntasks:\n  - id: a\n    timeout: 10m\n    retries: 1\n    retry_delay: 0s\n",
    );
    story.plan();
    story.start("a");
    story.now += Duration::minutes(9);
    assert!(plan(&story.spec, &story.run, &story.instances, story.now).is_empty());
    assert_eq!(
        next_wakeup(&story.spec, &story.instances),
        Some(t0() + Duration::minutes(10))
    );
    story.now = t0() + Duration::minutes(10);
    let transitions = plan(&story.spec, &story.run, &story.instances, story.now);
    let Transition::Task(change) = &transitions[0] else {
        panic!()
    };
    assert!(change.stop_attempt);
    assert_eq!(change.next.state, TaskState::RetryWait);
    assert_eq!(change.next.reason.as_deref(), Some("timed out after 10m"));
    story.apply(&transitions);
    assert_eq!(story.plan(), ["a"], "zero delay: queued at the next plan");
    assert_eq!(story.state("a"), (TaskState::Queued, 2));
}

#[test]
fn stale_and_duplicate_events_are_refused() {
    let mut story = Story::new(CHAIN);
    story.plan();
    let queued = story.instance("a").clone();
    assert!(
        start_launch(&queued, 2, story.now).is_none(),
        "a message for another try"
    );
    story.start("a");
    let running = story.instance("a").clone();
    let task = story.spec.task("a").unwrap().clone();
    let first = complete(&task, &running, 1, Outcome::Succeeded, story.now).unwrap();
    let duplicate = complete(&task, &running, 1, failed("replayed"), story.now).unwrap();
    assert!(apply(&mut story.instances, &first));
    assert!(
        !apply(&mut story.instances, &duplicate),
        "two completions from one snapshot: one wins"
    );
    let done = story.instance("a").clone();
    assert_eq!(done.state, TaskState::Succeeded);
    assert!(
        start_launch(&done, 1, story.now).is_none(),
        "a duplicate message"
    );
    assert!(
        complete(&task, &done, 1, failed("late"), story.now).is_none(),
        "a duplicate completion"
    );
    assert!(
        complete(&task, &running, 2, failed("other try"), story.now).is_none(),
        "an event for another try"
    );
}

#[test]
fn rerun_of_a_failed_task_keeps_upstream_tries_and_resumes_the_run() {
    let mut story = Story::new(CHAIN);
    story.plan();
    story.run_task("a", Outcome::Succeeded);
    story.plan();
    story.run_task("b", failed("bad data"));
    story.plan();
    assert_eq!(story.run.state, RunState::Failed);

    let request = Rerun {
        tasks: vec![TaskId::parse("b").unwrap()],
        downstream: true,
        ..Rerun::default()
    };
    let transitions = rerun(
        &story.spec,
        &story.run,
        &story.instances,
        &request,
        story.now,
    )
    .unwrap();
    story.apply(&transitions);
    assert_eq!(story.run.state, RunState::Running);
    assert_eq!(
        story.state("b"),
        (TaskState::Pending, 1),
        "the try counter is kept"
    );
    assert_eq!(story.state("c"), (TaskState::Pending, 0));
    assert_eq!(story.plan(), ["b"]);
    assert_eq!(story.state("b"), (TaskState::Queued, 2));
    story.run_task("b", Outcome::Succeeded);
    assert_eq!(story.plan(), ["c"]);
    story.run_task("c", Outcome::Succeeded);
    story.plan();
    assert_eq!(story.run.state, RunState::Succeeded);
    assert_eq!(
        story.state("a"),
        (TaskState::Succeeded, 1),
        "upstream not run again"
    );
}

#[test]
fn rerun_selects_upstream_failed_only_and_unknown_tasks() {
    let mut story = Story::new(CHAIN);
    story.plan();
    story.run_task("a", failed("x"));
    story.plan();
    let only_failed = Rerun {
        only_failed: true,
        ..Rerun::default()
    };
    let transitions = rerun(
        &story.spec,
        &story.run,
        &story.instances,
        &only_failed,
        story.now,
    )
    .unwrap();
    assert_eq!(transitions.len(), 4, "a, b, c and the run");
    let upstream = Rerun {
        tasks: vec![TaskId::parse("c").unwrap()],
        upstream: true,
        ..Rerun::default()
    };
    let keys: Vec<String> = rerun(
        &story.spec,
        &story.run,
        &story.instances,
        &upstream,
        story.now,
    )
    .unwrap()
    .iter()
    .filter_map(|t| match t {
        Transition::Task(c) => Some(c.next.key.to_string()),
        _ => None,
    })
    .collect();
    assert_eq!(keys, ["a", "b", "c"]);
    let unknown = Rerun {
        tasks: vec![TaskId::parse("z").unwrap()],
        ..Rerun::default()
    };
    assert_eq!(
        rerun(
            &story.spec,
            &story.run,
            &story.instances,
            &unknown,
            story.now
        )
        .unwrap_err()
        .to_string(),
        "run `manual__test` has no task `z` (its spec version has: a, b, c)"
    );
}

#[test]
fn rerun_of_a_running_task_stops_its_attempt() {
    let mut story = Story::new(CHAIN);
    story.plan();
    story.start("a");
    let request = Rerun {
        tasks: vec![TaskId::parse("a").unwrap()],
        ..Rerun::default()
    };
    let transitions = rerun(
        &story.spec,
        &story.run,
        &story.instances,
        &request,
        story.now,
    )
    .unwrap();
    let Transition::Task(change) = &transitions[0] else {
        panic!()
    };
    assert!(change.stop_attempt);
    story.apply(&transitions);
    let late = story.instance("a").clone();
    assert!(
        complete(
            story.spec.task("a").unwrap(),
            &late,
            1,
            Outcome::Succeeded,
            story.now
        )
        .is_none(),
        "the old try's completion is dropped"
    );
}

#[test]
fn marking_a_failed_task_succeeded_lets_the_run_succeed() {
    let mut story = Story::new("dag: d\ntasks:\n  - id: a\n  - id: b\n");
    story.plan();
    story.run_task("a", Outcome::Succeeded);
    story.run_task("b", failed("flaky"));
    story.plan();
    assert_eq!(story.run.state, RunState::Failed);
    let change = mark(story.instance("b"), TaskState::Succeeded, story.now);
    assert!(apply(&mut story.instances, &change));
    story.run.state = RunState::Running;
    story.plan();
    assert_eq!(story.run.state, RunState::Succeeded);
    assert_eq!(
        story.instance("b").reason.as_deref(),
        Some("marked succeeded by hand")
    );
}

#[test]
fn map_index_is_part_of_the_key() {
    let key = TaskKey {
        task_id: TaskId::parse("featurize").unwrap(),
        map_index: Some(3),
    };
    assert_eq!(key.to_string(), "featurize[3]");
    assert_ne!(key, TaskKey::task(TaskId::parse("featurize").unwrap()));
}

mod mapping {
    use super::*;
    use serde_json::json;

    const SPLIT: &str = "dag: d\ntasks:\n  - id: split\n  - id: featurize\n    after: [split]\n    map_over: \"{{ outputs.split.shards }}\"\n    max_parallel: 2\n    command: [f, \"{{ item }}\"]\n  - id: combine\n    after: [featurize]\n";

    fn split_with(story: &mut Story, shards: serde_json::Value) {
        story.plan();
        story.start("split");
        let instance = story.instance("split").clone();
        let task = story.spec.task("split").unwrap().clone();
        let mut change = complete(&task, &instance, 1, Outcome::Succeeded, story.now).unwrap();
        change.next.output = Some(json!({ "shards": shards }));
        assert!(apply(&mut story.instances, &change));
    }

    /// Plans and runs whatever is queued, successfully, until the run ends.
    fn run_to_end(story: &mut Story) {
        for _ in 0..20 {
            story.plan();
            if story.run.state.is_terminal() {
                return;
            }
            let keys: Vec<TaskKey> = story
                .instances
                .iter()
                .filter(|i| i.state == TaskState::Queued)
                .map(|i| i.key.clone())
                .collect();
            for key in keys {
                story.run_key(&key, Outcome::Succeeded);
            }
        }
        panic!("the run did not end");
    }

    /// featurize mapped over two shards: instance 0 failed, 1 succeeded.
    fn one_of_two_instances_failed() -> Story {
        let mut story = Story::new(SPLIT);
        split_with(&mut story, json!(["a", "b"]));
        story.plan();
        story.plan();
        story.run_key(
            &story.mapped("featurize", 0).key.clone(),
            failed("bad shard"),
        );
        story.run_key(
            &story.mapped("featurize", 1).key.clone(),
            Outcome::Succeeded,
        );
        story.plan();
        story
    }

    fn queued(story: &Story) -> Vec<String> {
        story
            .instances
            .iter()
            .filter(|i| i.state == TaskState::Queued)
            .map(|i| i.key.to_string())
            .collect()
    }

    #[test]
    fn a_mapped_task_expands_from_an_upstream_output_and_runs_max_parallel_at_once() {
        let mut story = Story::new(SPLIT);
        split_with(&mut story, json!(["a", "b", "c"]));
        assert_eq!(story.plan(), Vec::<String>::new(), "the first plan expands");
        let main = story.instance("featurize");
        assert_eq!((main.state, main.map_count), (TaskState::Mapped, Some(3)));
        assert_eq!(story.mapped("featurize", 2).item, Some(json!("c")));
        assert_eq!(
            story.plan(),
            ["featurize[0]", "featurize[1]"],
            "max_parallel 2"
        );
        story.run_key(
            &story.mapped("featurize", 0).key.clone(),
            Outcome::Succeeded,
        );
        assert_eq!(story.plan(), ["featurize[2]"]);
        assert_eq!(
            story.state("combine").0,
            TaskState::Pending,
            "waits for every instance"
        );
        story.run_key(
            &story.mapped("featurize", 1).key.clone(),
            Outcome::Succeeded,
        );
        story.run_key(
            &story.mapped("featurize", 2).key.clone(),
            Outcome::Succeeded,
        );
        assert_eq!(story.plan(), ["combine"]);
        story.run_task("combine", Outcome::Succeeded);
        story.plan();
        assert_eq!(story.run.state, RunState::Succeeded);
    }

    #[test]
    fn an_empty_list_skips_the_task_and_its_all_success_downstream() {
        let mut story = Story::new(SPLIT);
        split_with(&mut story, json!([]));
        story.plan();
        assert_eq!(story.state("featurize").0, TaskState::Skipped);
        assert_eq!(
            story.instance("featurize").reason.as_deref(),
            Some("map_over gave an empty list")
        );
        assert_eq!(story.state("combine").0, TaskState::Skipped);
        assert_eq!(story.run.state, RunState::Succeeded);
    }

    #[test]
    fn too_many_items_fail_the_task_naming_the_bound() {
        let yaml = "dag: d\ntasks:\n  - id: m\n    map_over: [1, 2, 3]\n    max_map: 2\n    command: [x]\n";
        let mut story = Story::new(yaml);
        story.plan();
        assert_eq!(story.state("m").0, TaskState::Failed);
        assert_eq!(
            story.instance("m").reason.as_deref(),
            Some("map_over gave 3 items, more than max_map (2)")
        );
        assert_eq!(story.run.state, RunState::Failed);
    }

    #[test]
    fn a_list_that_is_not_a_list_fails_with_the_reason() {
        let mut story = Story::new(SPLIT);
        split_with(&mut story, json!("not a list"));
        story.plan();
        assert_eq!(
            story.instance("featurize").reason.as_deref(),
            Some("map_over: template `{{ outputs.split.shards }}` gave a string, not a list")
        );
    }

    #[test]
    fn one_failed_instance_fails_the_downstream_rule_and_the_run() {
        let story = one_of_two_instances_failed();
        assert_eq!(story.state("combine").0, TaskState::UpstreamFailed);
        assert_eq!(story.run.state, RunState::Failed);
    }

    #[test]
    fn rerun_of_one_instance_reruns_only_it() {
        let mut story = one_of_two_instances_failed();
        let request = Rerun {
            tasks: vec![TaskId::parse("featurize").unwrap()],
            map_index: Some(0),
            downstream: true,
            ..Rerun::default()
        };
        let transitions = rerun(
            &story.spec,
            &story.run,
            &story.instances,
            &request,
            story.now,
        )
        .unwrap();
        story.apply(&transitions);
        assert_eq!(queued(&story), Vec::<String>::new());
        assert_eq!(story.plan(), ["featurize[0]"]);
        assert_eq!(story.mapped("featurize", 0).try_number, 2);
        assert_eq!(
            story.mapped("featurize", 1).try_number,
            1,
            "the other instance keeps its try"
        );
        story.run_key(
            &story.mapped("featurize", 0).key.clone(),
            Outcome::Succeeded,
        );
        assert_eq!(story.plan(), ["combine"]);
    }

    #[test]
    fn rerun_of_the_producer_re_expands_the_mapping() {
        let mut story = Story::new(SPLIT);
        split_with(&mut story, json!(["a", "b", "c"]));
        run_to_end(&mut story);
        assert_eq!(story.run.state, RunState::Succeeded);

        let request = Rerun {
            tasks: vec![TaskId::parse("split").unwrap()],
            downstream: true,
            ..Rerun::default()
        };
        let transitions = rerun(
            &story.spec,
            &story.run,
            &story.instances,
            &request,
            story.now,
        )
        .unwrap();
        story.apply(&transitions);
        assert_eq!(story.plan(), ["split"]);
        story.start("split");
        let instance = story.instance("split").clone();
        let task = story.spec.task("split").unwrap().clone();
        let mut change = complete(&task, &instance, 2, Outcome::Succeeded, story.now).unwrap();
        change.next.output = Some(json!({ "shards": ["x", "y"] }));
        assert!(apply(&mut story.instances, &change));
        story.plan();
        assert_eq!(
            story.instance("featurize").map_count,
            Some(2),
            "the new list has two items"
        );
        assert_eq!(
            story.mapped("featurize", 0).item,
            Some(json!("x")),
            "items follow the new list"
        );
        assert_eq!(
            story.plan(),
            ["featurize[0]", "featurize[1]"],
            "instance 2 is beyond the new list"
        );
        for index in 0..2 {
            story.run_key(
                &story.mapped("featurize", index).key.clone(),
                Outcome::Succeeded,
            );
        }
        assert_eq!(story.plan(), ["combine"]);
        story.run_task("combine", Outcome::Succeeded);
        story.plan();
        assert_eq!(story.run.state, RunState::Succeeded);
    }

    #[test]
    fn outputs_of_a_mapped_task_are_a_list_in_index_order() {
        let mut story = Story::new(SPLIT);
        split_with(&mut story, json!(["a", "b"]));
        story.plan();
        for index in [1, 0] {
            let key = story.mapped("featurize", index).key.clone();
            let i = story.instances.iter().position(|i| i.key == key).unwrap();
            story.instances[i].output = Some(json!({ "n": index }));
        }
        let outputs = outputs_of(&story.spec, &story.instances);
        assert_eq!(outputs["featurize"], json!([{"n": 0}, {"n": 1}]));
        assert_eq!(outputs["split"], json!({"shards": ["a", "b"]}));
    }

    #[test]
    fn outputs_are_checked() {
        assert_eq!(parse_output("{\"rows\": 3}").unwrap(), json!({"rows": 3}));
        assert_eq!(
            parse_output("[1]").unwrap_err(),
            "output must be a JSON object, e.g. {\"rows\": 42}"
        );
        assert!(
            parse_output("{")
                .unwrap_err()
                .starts_with("output is not valid JSON")
        );
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_OUTPUT_BYTES));
        assert!(
            parse_output(&big)
                .unwrap_err()
                .contains("larger than 262144 bytes; at most 262144 (256 KiB)")
        );
        assert_eq!(
            output_artifacts(&json!({"artifacts": ["s3://b/k", 3]})),
            ["s3://b/k"]
        );
        let described = json!({"artifacts": [
            {"uri": "s3://b/one", "extra": {"rows": 3}},
            {"uri": "s3://b/two", "extra": "not an object"},
            {"uri": "s3://b/three"},
            {"extra": {"no": "uri"}},
        ]});
        assert_eq!(
            output_artifacts(&described),
            ["s3://b/one", "s3://b/two", "s3://b/three"]
        );
        let extras = artifact_extras(&described);
        assert_eq!(extras.len(), 1, "{extras:?}");
        assert_eq!(extras["s3://b/one"], json!({"rows": 3}));
    }
}

#[test]
fn an_undispatchable_try_is_abandoned_only_while_queued_or_launching() {
    let mut story = Story::new(CHAIN);
    story.plan();
    let task = story.spec.task("a").unwrap().clone();
    let queued = story.instance("a").clone();
    let why = || "could not be dispatched".to_string();
    assert!(
        abandon(&task, &queued, 2, why(), story.now).is_none(),
        "another try"
    );
    let change = abandon(&task, &queued, 1, why(), story.now).unwrap();
    assert_eq!(change.next.state, TaskState::Failed);
    assert_eq!(
        change.next.reason.as_deref(),
        Some("could not be dispatched")
    );
    story.apply(&[Transition::Task(change)]);
    story.plan();
    assert_eq!(story.state("b").0, TaskState::UpstreamFailed);
    assert_eq!(story.run.state, RunState::Failed);

    let mut story = Story::new(CHAIN);
    story.plan();
    story.run_task("a", Outcome::Succeeded);
    let done = story.instance("a").clone();
    assert!(
        abandon(&task, &done, 1, why(), story.now).is_none(),
        "a try that ran is not abandoned"
    );
}

/// Issue 10: a task's metrics reach the run as soon as the task succeeds,
/// while the run goes on, and stay when it ends.
#[test]
fn a_tasks_metrics_become_the_runs_while_it_runs() {
    let mut story = Story::new(CHAIN);
    story.plan();
    story.start("a");
    let instance = story.instance("a").clone();
    let task = story.spec.task("a").unwrap().clone();
    let mut change = complete(&task, &instance, 1, Outcome::Succeeded, story.now).unwrap();
    change.next.output = Some(serde_json::json!({"metrics": {"accuracy": 0.9}}));
    story.apply(&[Transition::Task(change)]);
    assert_eq!(story.plan(), ["b"]);
    assert_eq!(story.run.state, RunState::Running);
    let expected = std::collections::BTreeMap::from([("a.accuracy".to_string(), 0.9)]);
    assert_eq!(story.run.metrics, expected);
    assert!(
        plan(&story.spec, &story.run, &story.instances, story.now).is_empty(),
        "unchanged metrics are not written again"
    );
    for task in ["b", "c"] {
        story.run_task(task, Outcome::Succeeded);
        story.plan();
    }
    assert_eq!(story.run.state, RunState::Succeeded);
    assert_eq!(story.run.metrics, expected);
}

const THREE: &str = "dag: story\nrun_timeout: 1h\ntasks:\n  - id: a\n    command: [x]\n  - id: b\n    command: [x]\n  - id: c\n    after: [a]\n    command: [x]\n";

#[test]
fn a_run_past_its_run_timeout_fails_stopping_what_runs_and_skipping_what_waits() {
    let mut story = Story::new(THREE);
    story.plan();
    story.start("a");
    story.run_key(
        &TaskKey::task(TaskId::parse("b").unwrap()),
        Outcome::Succeeded,
    );
    story.now = t0() + Duration::minutes(59);
    assert!(
        plan(&story.spec, &story.run, &story.instances, story.now)
            .iter()
            .all(|t| !matches!(t, Transition::Run(r) if r.next.state.is_terminal())),
        "not yet"
    );
    story.now = t0() + Duration::hours(1);
    let transitions = plan(&story.spec, &story.run, &story.instances, story.now);
    story.apply(&transitions);
    assert_eq!(story.run.state, RunState::Failed);
    assert_eq!(
        story.run.reason.as_deref(),
        Some("the run timed out after 1h (run_timeout)")
    );
    assert_eq!(story.state("a"), (TaskState::Failed, 1));
    assert_eq!(
        story.state("b"),
        (TaskState::Succeeded, 1),
        "ended ones stay"
    );
    assert_eq!(story.state("c").0, TaskState::Skipped);
    let stopped: Vec<_> = transitions
        .iter()
        .filter_map(|t| match t {
            Transition::Task(c) if c.stop_attempt => Some(c.next.key.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(stopped, ["a"], "the running try is stopped");
    assert!(
        matches!(transitions.last(), Some(Transition::Run(_))),
        "the run last"
    );
}

#[test]
fn a_cancelled_run_stays_cancelled_until_a_rerun_reopens_it_with_a_fresh_deadline() {
    let mut story = Story::new(THREE);
    story.plan();
    story.start("a");
    let transitions = end_run(
        &story.run,
        &story.instances,
        RunState::Cancelled,
        "cancelled by me",
        story.now,
    );
    story.apply(&transitions);
    assert_eq!(story.run.state, RunState::Cancelled);
    assert_eq!(
        (story.state("a").0, story.state("b").0),
        (TaskState::Failed, TaskState::Skipped)
    );
    story.now = t0() + Duration::hours(5);
    assert!(plan(&story.spec, &story.run, &story.instances, story.now).is_empty());
    let request = Rerun {
        tasks: vec![TaskId::parse("a").unwrap()],
        downstream: true,
        ..Rerun::default()
    };
    let cleared = rerun(
        &story.spec,
        &story.run,
        &story.instances,
        &request,
        story.now,
    )
    .unwrap();
    story.apply(&cleared);
    assert_eq!(story.run.state, RunState::Running);
    assert_eq!(story.run.reason, None);
    assert_eq!(story.plan(), ["a"], "the run's hour counts from the rerun");
    assert_eq!(story.run.state, RunState::Running);
}

/// Issue 13: a run not succeeded by its data interval's end plus `sla` is
/// noted once, with its own change or alone; one that succeeded in time,
/// never.
#[test]
fn a_run_past_its_sla_is_noted_once_and_one_in_time_never() {
    let sla = "dag: story\nsla: 2h\ntasks:\n  - id: a\n    command: [x]\n  - id: b\n    after: [a]\n    command: [x]\n";
    let mut story = Story::new(sla);
    story.plan();
    story.start("a");
    assert_eq!(
        sla_deadline(&story.spec, &story.run),
        Some(t0() + Duration::hours(2))
    );
    story.now = t0() + Duration::minutes(119);
    assert!(
        plan(&story.spec, &story.run, &story.instances, story.now).is_empty(),
        "not yet"
    );
    story.now = t0() + Duration::hours(2);
    let transitions = plan(&story.spec, &story.run, &story.instances, story.now);
    assert_eq!(transitions.len(), 1, "the note alone: {transitions:?}");
    story.apply(&transitions);
    assert_eq!(story.run.deadline_missed_at, Some(story.now));
    assert_eq!(story.run.state, RunState::Running);
    story.now += Duration::minutes(1);
    assert!(
        plan(&story.spec, &story.run, &story.instances, story.now).is_empty(),
        "noted once"
    );
    story.end("a", Outcome::Succeeded);
    story.plan();
    story.run_task("b", Outcome::Succeeded);
    story.plan();
    assert_eq!(story.run.state, RunState::Succeeded);
    assert_eq!(
        story.run.deadline_missed_at,
        Some(t0() + Duration::hours(2))
    );

    // In time: never noted, not even once it has ended.
    let mut in_time = Story::new(sla);
    in_time.plan();
    in_time.run_task("a", Outcome::Succeeded);
    in_time.plan();
    in_time.run_task("b", Outcome::Succeeded);
    in_time.plan();
    assert_eq!(in_time.run.state, RunState::Succeeded);
    in_time.now = t0() + Duration::hours(3);
    assert!(plan(&in_time.spec, &in_time.run, &in_time.instances, in_time.now).is_empty());
    assert!(missed_sla(&in_time.spec, &in_time.run, in_time.now).is_none());
    assert_eq!(in_time.run.deadline_missed_at, None);

    // Ending late, in the plan that notes it: one change says both.
    let mut late = Story::new(sla);
    late.plan();
    late.run_task("a", Outcome::Succeeded);
    late.plan();
    late.start("b");
    late.now = t0() + Duration::hours(5);
    late.end("b", Outcome::Succeeded);
    let transitions = plan(&late.spec, &late.run, &late.instances, late.now);
    let runs: Vec<&RunTransition> = transitions
        .iter()
        .filter_map(|t| match t {
            Transition::Run(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].next.state, RunState::Succeeded);
    assert_eq!(runs[0].next.deadline_missed_at, Some(late.now));
}

#[test]
fn max_active_tasks_per_run_queues_the_highest_priority_first_and_the_rest_later() {
    let mut story = Story::new(
        "dag: d\nmax_active_tasks_per_run: 2\ntasks:\n  - id: a\n  - id: b\n  - id: c\n    priority: 5\n  - id: d\n    after: [a, b, c]\n",
    );
    story.run.state = RunState::Running;
    assert_eq!(
        story.plan(),
        ["a", "c"],
        "c for its priority 5, then a by file order"
    );
    assert_eq!(
        story.plan(),
        Vec::<String>::new(),
        "two are queued: b waits"
    );
    story.start("c");
    assert_eq!(story.plan(), Vec::<String>::new(), "running counts too");
    story.end("c", Outcome::Succeeded);
    assert_eq!(story.plan(), ["b"]);
    for task in ["a", "b"] {
        story.start(task);
        story.end(task, Outcome::Succeeded);
    }
    assert_eq!(story.plan(), ["d"]);
    story.start("d");
    story.end("d", Outcome::Succeeded);
    story.plan();
    assert_eq!(story.run.state, RunState::Succeeded);
}

impl Story {
    /// Runs `task` to success with `output` as its output.
    fn succeed_with(&mut self, task: &str, output: serde_json::Value) {
        self.run_task(task, Outcome::Succeeded);
        let at = self
            .instances
            .iter()
            .position(|i| i.key.task_id.as_str() == task)
            .unwrap();
        self.instances[at].output = Some(output);
    }

    fn reason(&self, task: &str) -> String {
        self.instance(task).reason.clone().unwrap_or_default()
    }
}

const BRANCH: &str = "dag: d
tasks:
  - id: pick
    branch: true
  - id: fast
    after: [pick]
  - id: slow
    after: [pick]
  - id: after_slow
    after: [slow]
    trigger_rule: all_done
  - id: join
    after: [fast, slow]
    trigger_rule: none_failed_min_one_success
";

#[test]
fn a_branch_runs_the_tasks_it_names_and_skips_the_others() {
    let mut story = Story::new(BRANCH);
    story.plan();
    story.succeed_with("pick", serde_json::json!({"branch": "fast"}));
    assert_eq!(
        story.plan(),
        ["fast", "after_slow"],
        "past the branch's direct downstream, trigger rules decide"
    );
    assert_eq!(story.state("slow").0, TaskState::Skipped);
    assert_eq!(story.reason("slow"), "not chosen by branch `pick`");
    story.run_task("fast", Outcome::Succeeded);
    assert_eq!(story.plan(), ["join"]);
}

#[test]
fn a_branch_choosing_nothing_skips_every_task_after_it_and_the_join() {
    let mut story = Story::new(BRANCH);
    story.plan();
    story.succeed_with("pick", serde_json::json!({"branch": []}));
    assert_eq!(story.plan(), ["after_slow"], "all_done runs after skips");
    assert_eq!(story.state("fast").0, TaskState::Skipped);
    assert_eq!(story.state("join").0, TaskState::Skipped);
}

#[test]
fn a_branch_output_must_name_tasks_right_after_it() {
    let spec = parse_spec("d.yaml", BRANCH).unwrap();
    let pick = spec.task("pick").unwrap();
    let check = |output: serde_json::Value| check_branch(&spec, pick, Some(&output));
    assert_eq!(
        check(serde_json::json!({"branch": ["fast", "slow"]})),
        Ok(())
    );
    assert_eq!(check(serde_json::json!({"branch": []})), Ok(()));
    assert_eq!(
        check(serde_json::json!({"branch": "join"})),
        Err("`branch` names `join`, which does not run right after `pick`; choose among: fast, slow".into())
    );
    assert!(
        check(serde_json::json!({"rows": 3}))
            .unwrap_err()
            .starts_with("a branch's output must name the tasks to run under `branch`"),
    );
    assert!(check_branch(&spec, pick, None).is_err());
}

const CIRCUIT: &str = "dag: d
tasks:
  - id: gate
    short_circuit: true
  - id: load
    after: [gate]
  - id: report
    after: [load]
    trigger_rule: all_done
  - id: watch
    after: [load]
    trigger_rule: always
  - id: elsewhere
";

#[test]
fn a_short_circuit_skips_everything_after_it_whatever_the_rules() {
    let mut story = Story::new(CIRCUIT);
    assert_eq!(
        story.plan(),
        ["gate", "elsewhere"],
        "an `always` task after a short circuit waits for it"
    );
    story.succeed_with("gate", serde_json::json!({"continue": false}));
    assert!(story.plan().is_empty());
    for task in ["load", "report", "watch"] {
        assert_eq!(story.state(task).0, TaskState::Skipped, "{task}");
        assert_eq!(story.reason(task), "short-circuited by `gate`");
    }
    let mut open = Story::new(CIRCUIT);
    open.plan();
    open.succeed_with("gate", serde_json::json!({"continue": true}));
    assert_eq!(open.plan(), ["load", "watch"]);
}

#[test]
fn a_short_circuit_respecting_rules_skips_only_the_next_tasks() {
    let yaml = CIRCUIT.replace(
        "short_circuit: true",
        "short_circuit: respect_trigger_rules",
    );
    let mut story = Story::new(&yaml);
    assert_eq!(story.plan(), ["gate", "elsewhere", "watch"]);
    story.run_task(
        "gate",
        Outcome::Skipped {
            reason: "skipped: exit code 99".into(),
        },
    );
    assert_eq!(story.plan(), ["report"], "all_done runs after the skip");
    assert_eq!(story.reason("load"), "short-circuited by `gate`");
}

/// A story of a scheduled run for the daily point `days` days before
/// `t0()`, planned at `t0()` + 1h.
fn scheduled_story(yaml: &str, days: i64) -> Story {
    let mut story = Story::new(yaml);
    let point = t0() - Duration::days(days);
    story.run.kind = RunKind::Scheduled;
    story.run.logical_date = point;
    story.run.data_interval_start = point - Duration::days(1);
    story.run.data_interval_end = point;
    story.now = t0() + Duration::hours(1);
    story
}

const LATEST: &str = "dag: d
schedule: '@daily'
tasks:
  - id: extract
  - id: notify
    latest_only: true
  - id: after_notify
    after: [notify]
  - id: always_after
    after: [notify]
    trigger_rule: all_done
";

#[test]
fn a_latest_only_task_runs_only_in_the_latest_scheduled_run() {
    let mut latest = scheduled_story(LATEST, 0);
    assert_eq!(latest.plan(), ["extract", "notify"]);

    let mut catch_up = scheduled_story(LATEST, 3);
    assert_eq!(catch_up.plan(), ["extract", "always_after"]);
    assert_eq!(catch_up.state("notify").0, TaskState::Skipped);
    assert_eq!(
        catch_up.reason("notify"),
        "latest_only: not the latest scheduled run"
    );
    assert_eq!(catch_up.state("after_notify").0, TaskState::Skipped);

    let mut backfill = scheduled_story(LATEST, 3);
    backfill.run.kind = RunKind::Backfill;
    backfill.plan();
    assert_eq!(backfill.state("notify").0, TaskState::Skipped);

    let mut manual = Story::new(LATEST);
    manual.now = t0() + Duration::days(30);
    assert!(
        manual.plan().contains(&"notify".to_string()),
        "a manual run is never skipped"
    );
}

#[test]
fn a_latest_only_dag_skips_every_task_of_an_older_run_which_succeeds() {
    let yaml = LATEST.replace(
        "schedule: '@daily'\n",
        "schedule: '@daily'\nlatest_only: true\n",
    );
    let mut old = scheduled_story(&yaml, 2);
    assert!(old.plan().is_empty(), "nothing runs");
    assert!(old.instances.iter().all(|i| i.state == TaskState::Skipped));
    assert_eq!(old.run.state, RunState::Succeeded);
    let mut latest = scheduled_story(&yaml, 0);
    assert_eq!(latest.plan(), ["extract", "notify"]);
}

const SENSOR: &str = "dag: d
tasks:
  - id: landed
    retries: 2
    wait_for: { file: /data/ready, every: 30s, timeout: 1h }
  - id: load
    after: [landed]
";

#[test]
fn a_sensor_waits_without_being_queued_and_wakes_its_run_to_look() {
    let mut story = Story::new(SENSOR);
    assert!(
        story.plan().is_empty(),
        "a sensor takes no worker: nothing is queued"
    );
    let landed = story.instance("landed").clone();
    assert_eq!((landed.state, landed.try_number), (TaskState::Waiting, 1));
    assert_eq!(landed.poke_at, Some(t0()), "looked at at once");
    assert!(
        landed
            .reason
            .as_deref()
            .unwrap()
            .starts_with("waiting for /data/ready to exist until "),
        "{:?}",
        landed.reason
    );
    assert_eq!(next_wakeup(&story.spec, &story.instances), Some(t0()));
    let later = wait_more(&landed, 1, t0() + Duration::seconds(30)).unwrap();
    story.apply(&[Transition::Task(later)]);
    assert_eq!(
        next_wakeup(&story.spec, &story.instances),
        Some(t0() + Duration::seconds(30))
    );
    story.end("landed", Outcome::Succeeded);
    assert_eq!(story.plan(), ["load"]);
    assert_eq!(story.instance("landed").poke_at, None);
}

#[test]
fn a_sensor_past_its_timeout_fails_unretried_or_with_soft_fail_is_skipped() {
    let mut story = Story::new(SENSOR);
    story.plan();
    story.now = t0() + Duration::hours(1);
    story.plan();
    assert_eq!(story.state("landed"), (TaskState::Failed, 1), "not retried");
    assert_eq!(story.reason("landed"), "waited 1h for /data/ready to exist");
    assert_eq!(story.state("load").0, TaskState::UpstreamFailed);

    let mut soft = Story::new(&SENSOR.replace("timeout: 1h", "timeout: 1h, soft_fail: true"));
    soft.plan();
    soft.now = t0() + Duration::hours(2);
    soft.plan();
    assert_eq!(soft.state("landed").0, TaskState::Skipped);
    assert_eq!(soft.state("load").0, TaskState::Skipped);
    assert_eq!(soft.run.state, RunState::Succeeded);
}

const APPROVAL: &str = "dag: d
tasks:
  - id: sign_off
    approval: { prompt: Ship the model?, timeout: 2d, default: reject }
  - id: ship
    after: [sign_off]
  - id: report
    after: [ship]
    trigger_rule: all_done
";

#[test]
fn an_approval_waits_for_a_person_and_a_rejection_skips_everything_after_it() {
    let mut story = Story::new(APPROVAL);
    assert!(story.plan().is_empty());
    let asked = story.instance("sign_off").clone();
    assert_eq!(asked.state, TaskState::Waiting);
    assert_eq!(asked.poke_at, None, "a decision is not polled for");
    assert!(
        story
            .reason("sign_off")
            .starts_with("waiting for a decision: Ship the model? (approve / reject) until "),
        "{}",
        story.reason("sign_off")
    );
    assert_eq!(
        next_wakeup(&story.spec, &story.instances),
        Some(t0() + Duration::days(2))
    );
    story.end("sign_off", Outcome::Succeeded);
    let at = story
        .instances
        .iter()
        .position(|i| i.key.task_id.as_str() == "sign_off")
        .unwrap();
    story.instances[at].output = Some(crate::spec::Approval::decision("reject", "ana", None));
    assert!(story.plan().is_empty());
    assert_eq!(story.state("ship").0, TaskState::Skipped);
    assert_eq!(story.state("report").0, TaskState::Skipped, "all_done too");
    assert_eq!(story.run.state, RunState::Succeeded);
}

#[test]
fn an_approval_no_one_decides_takes_its_default_or_fails() {
    let mut story = Story::new(APPROVAL);
    story.plan();
    story.now = t0() + Duration::days(2);
    story.plan();
    assert_eq!(story.state("sign_off").0, TaskState::Succeeded);
    assert_eq!(
        story.instance("sign_off").output,
        Some(serde_json::json!({"choice": "reject", "by": "timeout", "note": null}))
    );
    assert_eq!(story.state("ship").0, TaskState::Skipped);

    let mut none = Story::new(&APPROVAL.replace(", default: reject", ""));
    none.plan();
    none.now = t0() + Duration::days(2);
    none.plan();
    assert_eq!(none.state("sign_off").0, TaskState::Failed);
    assert_eq!(
        none.reason("sign_off"),
        "no one decided \"Ship the model?\" within 2d"
    );
}

#[test]
fn a_task_depending_on_its_past_waits_until_the_run_before_left_it_well() {
    let yaml = "dag: d\ntasks:\n  - id: load\n    depends_on_past: true\n  - id: free\n";
    let story = Story::new(yaml);
    let plan_with = |past: &[(&str, TaskState)]| {
        let past = Past(past.iter().map(|(t, s)| (t.to_string(), *s)).collect());
        let transitions = plan_after(&story.spec, &story.run, &story.instances, &past, story.now);
        transitions
            .iter()
            .filter_map(|t| match t {
                Transition::Task(c) if c.next.state == TaskState::Queued => {
                    Some(c.next.key.to_string())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(plan_with(&[]), ["load", "free"], "no run before: it runs");
    assert_eq!(
        plan_with(&[("load", TaskState::Succeeded)]),
        ["load", "free"]
    );
    assert_eq!(plan_with(&[("load", TaskState::Skipped)]), ["load", "free"]);
    assert_eq!(plan_with(&[("load", TaskState::Failed)]), ["free"]);
    assert_eq!(plan_with(&[("load", TaskState::Running)]), ["free"]);
}

const TEARDOWN: &str = "dag: d
tasks:
  - id: create_cluster
  - id: work
    after: [create_cluster]
  - id: delete_cluster
    after: [work]
    teardown: [create_cluster]
";

#[test]
fn a_teardown_runs_after_its_scope_whatever_it_did_if_its_setup_succeeded() {
    let mut story = Story::new(TEARDOWN);
    story.plan();
    story.run_task("create_cluster", Outcome::Succeeded);
    assert_eq!(story.plan(), ["work"]);
    story.run_task("work", failed("OOM"));
    assert_eq!(story.plan(), ["delete_cluster"], "it runs after a failure");
    story.run_task("delete_cluster", Outcome::Succeeded);
    story.plan();
    assert_eq!(
        story.run.state,
        RunState::Failed,
        "work's failure fails the run"
    );

    let mut broken = Story::new(TEARDOWN);
    broken.plan();
    broken.run_task("create_cluster", failed("no capacity"));
    broken.plan();
    assert_eq!(broken.state("delete_cluster").0, TaskState::UpstreamFailed);
}

#[test]
fn a_failed_teardown_fails_the_run_only_with_fail_run() {
    for (yaml, run_state) in [
        (TEARDOWN.to_string(), RunState::Succeeded),
        (
            TEARDOWN.replace(
                "teardown: [create_cluster]",
                "teardown: [create_cluster]\n    fail_run: true",
            ),
            RunState::Failed,
        ),
    ] {
        let mut story = Story::new(&yaml);
        story.plan();
        story.run_task("create_cluster", Outcome::Succeeded);
        story.plan();
        story.run_task("work", Outcome::Succeeded);
        story.plan();
        story.run_task("delete_cluster", failed("still attached"));
        story.plan();
        assert_eq!(story.run.state, run_state, "{yaml}");
    }
}

#[test]
fn rerunning_a_task_inside_a_scope_reruns_its_setup_and_teardown() {
    let mut story = Story::new(TEARDOWN);
    story.plan();
    for task in ["create_cluster", "work", "delete_cluster"] {
        story.run_task(task, Outcome::Succeeded);
        story.plan();
    }
    let request = Rerun {
        tasks: vec![TaskId::parse("work").unwrap()],
        ..Rerun::default()
    };
    let cleared = rerun(
        &story.spec,
        &story.run,
        &story.instances,
        &request,
        story.now,
    )
    .unwrap();
    let mut touched: Vec<String> = cleared
        .iter()
        .filter_map(|t| match t {
            Transition::Task(c) => Some(c.next.key.to_string()),
            _ => None,
        })
        .collect();
    touched.sort();
    assert_eq!(touched, ["create_cluster", "delete_cluster", "work"]);
}
