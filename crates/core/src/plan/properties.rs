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
}

fn random_dag(max_tasks: usize) -> impl Strategy<Value = Vec<RandomTask>> {
    let rules = prop::sample::select(vec![
        "all_success",
        "all_success",
        "all_done",
        "one_failed",
        "one_success",
        "none_failed",
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
            .map(|(i, (ups, rule, retries))| {
                let after: BTreeSet<usize> = if i == 0 {
                    BTreeSet::new()
                } else {
                    ups.iter().map(|x| x.index(i)).collect()
                };
                RandomTask {
                    after: after.into_iter().collect(),
                    rule,
                    retries,
                }
            })
            .collect()
    })
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
            let cleared = rerun(&story.spec, &story.run, &story.instances, &request).unwrap();
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
