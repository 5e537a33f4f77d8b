//! Property tests: random DAGs of up to 200 tasks, random trigger rules and
//! retries, random launch and completion orders and outcomes.

use std::collections::{BTreeSet, HashSet};

use chrono::Duration;
use proptest::prelude::*;

use super::tests::{Story, failed};
use super::*;
use crate::ids::TaskId;

#[derive(Clone, Debug)]
struct RandomTask {
    after: Vec<usize>,
    rule: &'static str,
    retries: u32,
    /// For a mapped task: (list size, max_parallel).
    map: Option<(usize, Option<u32>)>,
}

fn random_dag(max_tasks: usize) -> impl Strategy<Value = Vec<RandomTask>> {
    let rules = prop::sample::select(vec![
        "all_success",
        "all_success",
        "all_done",
        "one_failed",
        "one_success",
        "none_failed",
        "all_failed",
        "one_done",
        "none_failed_min_one_success",
        "none_skipped",
        "all_skipped",
        "always",
    ]);
    prop::collection::vec(
        (
            prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            rules,
            0u32..3,
        ),
        1..=max_tasks,
    )
    .prop_map(|tasks| {
        tasks
            .into_iter()
            .enumerate()
            .map(|(i, (ups, rule, retries))| RandomTask {
                after: upstreams(i, &ups),
                rule,
                retries,
                map: None,
            })
            .collect()
    })
}

/// Task `i`'s upstreams: distinct earlier tasks, so the graph has no cycle.
fn upstreams(i: usize, picks: &[prop::sample::Index]) -> Vec<usize> {
    if i == 0 {
        return Vec::new();
    }
    let distinct: BTreeSet<usize> = picks.iter().map(|x| x.index(i)).collect();
    distinct.into_iter().collect()
}

fn to_yaml(tasks: &[RandomTask]) -> String {
    let mut yaml = String::from("dag: random\ntasks:\n");
    for (i, task) in tasks.iter().enumerate() {
        yaml += &format!(
            "  - id: t{i}\n    trigger_rule: {}\n    retries: {}\n    retry_delay: 1m\n",
            task.rule, task.retries
        );
        if !task.after.is_empty() {
            let names: Vec<String> = task.after.iter().map(|a| format!("t{a}")).collect();
            yaml += &format!("    after: [{}]\n", names.join(", "));
        }
        if let Some((size, parallel)) = task.map {
            let items: Vec<String> = (0..size).map(|n| n.to_string()).collect();
            yaml += &format!("    map_over: [{}]\n", items.join(", "));
            if let Some(p) = parallel {
                yaml += &format!("    max_parallel: {p}\n");
            }
        }
    }
    yaml
}

/// A small deterministic generator for the simulation's choices.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The trigger rules, written again independently of the planner.
fn rule_holds(rule: &str, upstream: &[TaskState]) -> bool {
    let failed = |s: &&TaskState| matches!(s, TaskState::Failed | TaskState::UpstreamFailed);
    let done = upstream.iter().all(|s| s.is_terminal());
    upstream.is_empty()
        || match rule {
            "all_success" => upstream.iter().all(|s| *s == TaskState::Succeeded),
            "all_done" => done,
            "one_failed" => upstream.iter().any(|s| failed(&s)),
            "one_success" => upstream.contains(&TaskState::Succeeded),
            "none_failed" => done && !upstream.iter().any(|s| failed(&s)),
            "all_failed" => upstream.iter().all(|s| failed(&s)),
            "one_done" => upstream
                .iter()
                .any(|s| matches!(s, TaskState::Succeeded | TaskState::Failed)),
            "none_failed_min_one_success" => {
                done && !upstream.iter().any(|s| failed(&s))
                    && upstream.contains(&TaskState::Succeeded)
            }
            "none_skipped" => done && !upstream.contains(&TaskState::Skipped),
            "all_skipped" => upstream.iter().all(|s| *s == TaskState::Skipped),
            "always" => true,
            _ => unreachable!(),
        }
}

/// What one simulated run did.
#[derive(Default)]
struct Trace {
    /// (task, try) of every queued transition, in order.
    queued: Vec<(String, u32)>,
    /// Every task that had any transition.
    touched: BTreeSet<String>,
}

/// Drives the run to its end, checking the invariants at every plan.
fn drive(story: &mut Story, dags: &[RandomTask], dice: &mut Dice, fail_percent: u64) -> Trace {
    let mut trace = Trace::default();
    let mut seen: HashSet<(String, u32)> = HashSet::new();
    let max_steps = 40 * dags.len() + 40;
    for _ in 0..max_steps {
        let transitions = plan(&story.spec, &story.run, &story.instances, story.now);
        let mut touched_now = HashSet::new();
        for transition in &transitions {
            let Transition::Task(change) = transition else {
                continue;
            };
            let name = change.next.key.task_id.to_string();
            assert!(
                touched_now.insert(name.clone()),
                "two transitions for {name} in one plan"
            );
            trace.touched.insert(name.clone());
            if change.next.state == TaskState::Queued {
                let task: usize = name[1..].parse().unwrap();
                if change.expect_state == TaskState::Pending {
                    let upstream: Vec<TaskState> = dags[task]
                        .after
                        .iter()
                        .map(|&u| story.state(&format!("t{u}")).0)
                        .collect();
                    assert!(
                        rule_holds(dags[task].rule, &upstream),
                        "{name} ({}) queued with upstream {upstream:?}",
                        dags[task].rule
                    );
                } else {
                    assert_eq!(change.expect_state, TaskState::RetryWait);
                    assert!(
                        story.instance(&name).retry_at.unwrap() <= story.now,
                        "{name} retried early"
                    );
                }
                assert!(
                    seen.insert((name.clone(), change.next.try_number)),
                    "{name} queued twice for try {}",
                    change.next.try_number
                );
                trace.queued.push((name.clone(), change.next.try_number));
            }
            story.apply(std::slice::from_ref(transition));
        }
        for transition in &transitions {
            if let Transition::Run(_) = transition {
                story.apply(std::slice::from_ref(transition));
            }
        }
        if story.run.state.is_terminal() {
            return trace;
        }
        let active: Vec<String> = story
            .instances
            .iter()
            .filter(|i| matches!(i.state, TaskState::Queued | TaskState::Running))
            .map(|i| i.key.task_id.to_string())
            .collect();
        if active.is_empty() {
            let wake = next_wakeup(&story.spec, &story.instances)
                .expect("a run with nothing in flight must be waiting for a retry");
            story.now = wake.max(story.now);
            continue;
        }
        let pick = &active[dice.below(active.len())];
        match story.state(pick).0 {
            TaskState::Queued => story.start(pick),
            _ if dice.below(100) < fail_percent as usize => {
                story.end(pick, failed("random failure"))
            }
            _ => story.end(pick, Outcome::Succeeded),
        }
        story.now += Duration::seconds(1);
    }
    panic!("run did not end within {max_steps} steps");
}

fn check_run_end(story: &Story) {
    assert!(
        story.instances.iter().all(|i| i.state.is_terminal()),
        "a run ended with unfinished tasks"
    );
    let all_good = story
        .instances
        .iter()
        .all(|i| matches!(i.state, TaskState::Succeeded | TaskState::Skipped));
    assert_eq!(story.run.state == RunState::Succeeded, all_good);
}

/// The tasks a rerun must touch, computed from the random DAG itself.
fn expected_selection(
    dags: &[RandomTask],
    named: &BTreeSet<usize>,
    downstream: bool,
    upstream: bool,
) -> BTreeSet<String> {
    let mut chosen = named.clone();
    let grow = |forward: bool| {
        let mut frontier: Vec<usize> = named.iter().copied().collect();
        let mut seen = BTreeSet::new();
        while let Some(t) = frontier.pop() {
            let next: Vec<usize> = if forward {
                (0..dags.len())
                    .filter(|&d| dags[d].after.contains(&t))
                    .collect()
            } else {
                dags[t].after.clone()
            };
            for n in next {
                if seen.insert(n) {
                    frontier.push(n);
                }
            }
        }
        seen
    };
    if downstream {
        chosen.extend(grow(true));
    }
    if upstream {
        chosen.extend(grow(false));
    }
    chosen.into_iter().map(|t| format!("t{t}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every run ends; no task is queued before its rule holds or twice for
    /// one try; the run's end state agrees with its tasks.
    #[test]
    fn random_runs_terminate_and_respect_trigger_rules(dags in random_dag(200), seed in any::<u64>(), fail_percent in 0u64..60) {
        let mut story = Story::new(&to_yaml(&dags));
        drive(&mut story, &dags, &mut Dice(seed), fail_percent);
        check_run_end(&story);
    }

    /// A rerun of a finished run touches only the chosen tasks with their
    /// chosen downstream/upstream, and every other task keeps its try. When
    /// every try succeeds, it re-queues exactly the chosen tasks that ran
    /// before (a task skipped by its rule is skipped again).
    #[test]
    fn reruns_re_execute_exactly_the_chosen_tasks(
        dags in random_dag(120),
        seed in any::<u64>(),
        fail_percent in 0u64..40,
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        downstream in any::<bool>(),
        upstream in any::<bool>(),
    ) {
        for first_fail_percent in [0, fail_percent] {
            let mut story = Story::new(&to_yaml(&dags));
            let mut dice = Dice(seed);
            drive(&mut story, &dags, &mut dice, first_fail_percent);
            let tries_before: Vec<(String, u32)> = story.instances.iter().map(|i| (i.key.task_id.to_string(), i.try_number)).collect();

            let named: BTreeSet<usize> = picks.iter().map(|p| p.index(dags.len())).collect();
            let request = Rerun {
                tasks: named.iter().map(|t| TaskId::parse(&format!("t{t}")).unwrap()).collect(),
                downstream,
                upstream,
                ..Rerun::default()
            };
            let expected = expected_selection(&dags, &named, downstream, upstream);
            let cleared = rerun(&story.spec, &story.run, &story.instances, &request, story.now).unwrap();
            story.apply(&cleared);
            let trace = drive(&mut story, &dags, &mut dice, 0);
            check_run_end(&story);

            prop_assert!(trace.touched.is_subset(&expected), "touched {:?} outside {:?}", trace.touched, expected);
            for (task, try_before) in &tries_before {
                if !expected.contains(task) {
                    prop_assert_eq!(story.state(task).1, *try_before, "{} ran again", task);
                }
            }
            if first_fail_percent == 0 {
                let queued: BTreeSet<String> = trace.queued.iter().map(|(t, _)| t.clone()).collect();
                let ran_before: BTreeSet<String> = tries_before.iter().filter(|(_, n)| *n > 0).map(|(t, _)| t.clone()).collect();
                let again: BTreeSet<String> = expected.intersection(&ran_before).cloned().collect();
                prop_assert_eq!(&queued, &again);
                for (task, try_number) in &trace.queued {
                    let before = tries_before.iter().find(|(t, _)| t == task).unwrap().1;
                    prop_assert_eq!(*try_number, before + 1, "{} keeps its try counter", task);
                }
            }
        }
    }
}

mod control;

/// Random DAGs where some tasks map over literal lists of 0..500 items.
mod mapped {
    use super::*;
    use crate::state::TaskKey;

    fn dags() -> impl Strategy<Value = Vec<RandomTask>> {
        let rules = prop::sample::select(vec![
            "all_success",
            "all_success",
            "all_done",
            "one_failed",
            "none_failed",
        ]);
        let map = prop_oneof![3 => Just(None), 1 => (0usize..500, prop::option::of(1u32..8)).prop_map(Some)];
        prop::collection::vec(
            (
                prop::collection::vec(any::<prop::sample::Index>(), 0..3),
                rules,
                0u32..2,
                map,
            ),
            1..12,
        )
        .prop_map(|tasks| {
            tasks
                .into_iter()
                .enumerate()
                .map(|(i, (ups, rule, retries, map))| RandomTask {
                    after: upstreams(i, &ups),
                    rule,
                    retries,
                    map,
                })
                .collect()
        })
    }

    fn task_of(key: &TaskKey) -> usize {
        key.task_id.as_str()[1..].parse().unwrap()
    }

    /// The states downstream tasks see of task `t`: its mapped instances
    /// once it expanded, else itself. Written apart from the planner.
    fn seen_states(story: &Story, t: usize) -> Vec<TaskState> {
        let name = format!("t{t}");
        let main = story.instance(&name);
        if main.state != TaskState::Mapped {
            return vec![main.state];
        }
        (0..main.map_count.unwrap())
            .map(|i| {
                story
                    .instances
                    .iter()
                    .find(|x| x.key.task_id.as_str() == name && x.key.map_index == Some(i))
                    .map_or(TaskState::Pending, |x| x.state)
            })
            .collect()
    }

    fn launch(story: &mut Story, key: &TaskKey) {
        let instance = story
            .instances
            .iter()
            .find(|i| &i.key == key)
            .unwrap()
            .clone();
        let launch = start_launch(&instance, instance.try_number, story.now).unwrap();
        assert!(apply(&mut story.instances, &launch));
        let running = mark_running(&launch.next, instance.try_number, story.now).unwrap();
        assert!(apply(&mut story.instances, &running));
    }

    fn end(story: &mut Story, key: &TaskKey, outcome: Outcome) {
        let instance = story
            .instances
            .iter()
            .find(|i| &i.key == key)
            .unwrap()
            .clone();
        let task = story.spec.task(key.task_id.as_str()).unwrap().clone();
        let change = complete(&task, &instance, instance.try_number, outcome, story.now).unwrap();
        assert!(apply(&mut story.instances, &change));
    }

    /// Drives to the end; returns every (instance, try) queued.
    fn drive(
        story: &mut Story,
        tasks: &[RandomTask],
        dice: &mut Dice,
        fail_percent: usize,
    ) -> Vec<(TaskKey, u32)> {
        let mut queued: Vec<(TaskKey, u32)> = Vec::new();
        let mut seen = HashSet::new();
        let total: usize = tasks.iter().map(|t| t.map.map_or(1, |m| m.0 + 1)).sum();
        for _ in 0..(12 * total + 50) {
            let transitions = plan(&story.spec, &story.run, &story.instances, story.now);
            for transition in &transitions {
                if let Transition::Task(change) = transition {
                    if change.next.state == TaskState::Queued
                        && change.expect_state == TaskState::Pending
                    {
                        let t = task_of(&change.next.key);
                        if change.next.key.map_index.is_none() {
                            let upstream: Vec<TaskState> = tasks[t]
                                .after
                                .iter()
                                .flat_map(|&u| seen_states(story, u))
                                .collect();
                            assert!(
                                rule_holds(tasks[t].rule, &upstream),
                                "t{t} ({}) queued with upstream {upstream:?}",
                                tasks[t].rule
                            );
                        } else {
                            assert_eq!(
                                story.instance(&format!("t{t}")).state,
                                TaskState::Mapped,
                                "a mapped instance before its expansion"
                            );
                        }
                    }
                    if change.next.state == TaskState::Queued {
                        assert!(
                            seen.insert((change.next.key.clone(), change.next.try_number)),
                            "{} queued twice for one try",
                            change.next.key
                        );
                        queued.push((change.next.key.clone(), change.next.try_number));
                    }
                }
                story.apply(std::slice::from_ref(transition));
            }
            for (t, task) in tasks.iter().enumerate() {
                if let Some((_, Some(limit))) = task.map {
                    let name = format!("t{t}");
                    let active = story
                        .instances
                        .iter()
                        .filter(|i| i.key.task_id.as_str() == name && i.key.map_index.is_some())
                        .filter(|i| {
                            matches!(
                                i.state,
                                TaskState::Queued | TaskState::Launching | TaskState::Running
                            )
                        })
                        .count();
                    assert!(
                        active <= limit as usize,
                        "t{t}: {active} in flight, max_parallel {limit}"
                    );
                }
            }
            if story.run.state.is_terminal() {
                let all_done = story.instances.iter().all(|i| i.state.is_terminal());
                assert!(all_done, "the run ended with instances in flight");
                return queued;
            }
            let active: Vec<TaskKey> = story
                .instances
                .iter()
                .filter(|i| matches!(i.state, TaskState::Queued | TaskState::Running))
                .map(|i| i.key.clone())
                .collect();
            if active.is_empty() {
                if let Some(wake) = next_wakeup(&story.spec, &story.instances) {
                    story.now = wake.max(story.now);
                }
                continue;
            }
            let key = active[dice.below(active.len())].clone();
            let state = story.instances.iter().find(|i| i.key == key).unwrap().state;
            match state {
                TaskState::Queued => launch(story, &key),
                _ if dice.below(100) < fail_percent => end(story, &key, failed("random")),
                _ => end(story, &key, Outcome::Succeeded),
            }
        }
        panic!("run did not end");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Every mapped instance runs once per try, never more than
        /// max_parallel at once, and downstream tasks start only after all
        /// instances ended (their rule sees every instance).
        #[test]
        fn mapped_runs_terminate_and_respect_rules(tasks in dags(), seed in any::<u64>(), fail_percent in 0usize..30) {
            let mut story = Story::new(&to_yaml(&tasks));
            let queued = drive(&mut story, &tasks, &mut Dice(seed), fail_percent);
            for (t, task) in tasks.iter().enumerate() {
                let main = story.instance(&format!("t{t}")).clone();
                if let (Some((size, _)), TaskState::Mapped) = (task.map, main.state) {
                    prop_assert_eq!(main.map_count, Some(size as u32));
                    let ran = queued.iter().filter(|(k, n)| task_of(k) == t && k.map_index.is_some() && *n == 1).count();
                    prop_assert_eq!(ran, size, "every instance of t{} queued for its first try once", t);
                }
                if let (Some((0, _)), TaskState::Skipped) = (task.map, main.state) {
                    prop_assert_eq!(main.reason.as_deref(), Some("map_over gave an empty list"));
                }
            }
        }

        /// Rerunning one mapped instance of a finished all-success run
        /// re-executes only it.
        #[test]
        fn rerun_of_one_instance_re_executes_only_it(tasks in dags(), seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
            let mut story = Story::new(&to_yaml(&tasks));
            let mut dice = Dice(seed);
            drive(&mut story, &tasks, &mut dice, 0);
            let candidates: Vec<TaskKey> = story.instances.iter().filter(|i| i.key.map_index.is_some() && i.state == TaskState::Succeeded).map(|i| i.key.clone()).collect();
            prop_assume!(!candidates.is_empty());
            let chosen = candidates[pick.index(candidates.len())].clone();
            let tries_before: Vec<(TaskKey, u32)> = story.instances.iter().map(|i| (i.key.clone(), i.try_number)).collect();
            let request = Rerun { tasks: vec![chosen.task_id.clone()], map_index: chosen.map_index, ..Rerun::default() };
            let cleared = rerun(&story.spec, &story.run, &story.instances, &request, story.now).unwrap();
            story.apply(&cleared);
            let queued = drive(&mut story, &tasks, &mut dice, 0);
            prop_assert_eq!(queued, vec![(chosen.clone(), 2)]);
            for (key, before) in tries_before {
                let after = story.instances.iter().find(|i| i.key == key).unwrap().try_number;
                prop_assert_eq!(after, if key == chosen { before + 1 } else { before });
            }
            prop_assert_eq!(story.run.state, RunState::Succeeded);
        }
    }
}
