//! Random DAGs with branches, short circuits and skipped tries: no task
//! runs after a branch that did not choose it or a short circuit that
//! stopped, every task ends as the rules define (an oracle written here
//! from the run's final states, not the planner's code), and every run
//! ends.

use super::*;

#[derive(Clone, Debug)]
struct ControlTask {
    after: Vec<usize>,
    rule: &'static str,
    branch: bool,
    /// `""`, `"true"` or `"respect_trigger_rules"`.
    circuit: &'static str,
}

fn dags() -> impl Strategy<Value = Vec<ControlTask>> {
    let rules = prop::sample::select(vec![
        "all_success",
        "all_success",
        "all_failed",
        "all_done",
        "one_failed",
        "one_success",
        "one_done",
        "none_failed",
        "none_failed_min_one_success",
        "none_failed_min_one_success",
        "none_skipped",
        "all_skipped",
        "always",
    ]);
    prop::collection::vec(
        (
            prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            rules,
            0u8..10,
        ),
        1..=80,
    )
    .prop_map(|tasks| {
        let mut out: Vec<ControlTask> = tasks
            .into_iter()
            .enumerate()
            .map(|(i, (ups, rule, kind))| ControlTask {
                after: upstreams(i, &ups),
                rule,
                branch: kind < 2,
                circuit: match kind {
                    2 => "true",
                    3 => "respect_trigger_rules",
                    _ => "",
                },
            })
            .collect();
        // A branch needs tasks after it to choose among.
        for t in 0..out.len() {
            if !out.iter().any(|d| d.after.contains(&t)) {
                out[t].branch = false;
            }
        }
        out
    })
}

fn to_yaml(tasks: &[ControlTask]) -> String {
    let mut yaml = String::from("dag: random\ntasks:\n");
    for (i, task) in tasks.iter().enumerate() {
        yaml += &format!("  - id: t{i}\n    trigger_rule: {}\n", task.rule);
        if !task.after.is_empty() {
            let names: Vec<String> = task.after.iter().map(|a| format!("t{a}")).collect();
            yaml += &format!("    after: [{}]\n", names.join(", "));
        }
        if task.branch {
            yaml += "    branch: true\n";
        }
        if !task.circuit.is_empty() {
            yaml += &format!("    short_circuit: {}\n", task.circuit);
        }
    }
    yaml
}

/// What the run's final states say of one task, computed from the DAG and
/// the states alone.
struct Oracle<'a> {
    tasks: &'a [ControlTask],
    states: Vec<TaskState>,
    outputs: Vec<Option<serde_json::Value>>,
}

impl Oracle<'_> {
    /// A short circuit that ended skipped or said `"continue": false`.
    fn stopped(&self, u: usize) -> bool {
        self.states[u] == TaskState::Skipped
            || self.states[u] == TaskState::Succeeded
                && self.outputs[u].as_ref().and_then(|o| o.get("continue"))
                    == Some(&serde_json::Value::Bool(false))
    }

    /// Whether a full short circuit before `t` stopped.
    fn cut(&self, t: usize) -> bool {
        self.tasks[t]
            .after
            .iter()
            .any(|&u| self.tasks[u].circuit == "true" && self.stopped(u) || self.cut(u))
    }

    /// Whether the tasks right before `t` rule it out: a branch that chose
    /// otherwise, a short circuit (respecting rules) that stopped.
    fn ruled_out(&self, t: usize) -> bool {
        self.tasks[t].after.iter().any(|&u| {
            let up = &self.tasks[u];
            let chose = || {
                let chosen = &self.outputs[u].as_ref().unwrap()["branch"];
                chosen
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!(format!("t{t}")))
            };
            up.circuit == "respect_trigger_rules" && self.stopped(u)
                || up.branch && self.states[u] == TaskState::Succeeded && !chose()
        })
    }

    /// The states a task that never ran may end in: one, but for an
    /// `all_success` task after both a failure and a skip, which ends as
    /// whichever came first (as in Airflow).
    fn settled(&self, t: usize) -> Vec<TaskState> {
        if self.cut(t) || self.ruled_out(t) {
            return vec![TaskState::Skipped];
        }
        let ups: Vec<TaskState> = self.tasks[t]
            .after
            .iter()
            .map(|&u| self.states[u])
            .collect();
        let failed = ups
            .iter()
            .any(|s| matches!(s, TaskState::Failed | TaskState::UpstreamFailed));
        let skipped = ups.contains(&TaskState::Skipped);
        let all_skipped = ups.iter().all(|s| *s == TaskState::Skipped);
        let one = match self.tasks[t].rule {
            "all_success" if failed && skipped => {
                return vec![TaskState::UpstreamFailed, TaskState::Skipped];
            }
            "all_success" | "none_failed_min_one_success" if failed => TaskState::UpstreamFailed,
            "one_success" if !all_skipped => TaskState::UpstreamFailed,
            "none_failed" => TaskState::UpstreamFailed,
            _ => TaskState::Skipped,
        };
        vec![one]
    }
}

/// The tasks right after `t`.
fn after(tasks: &[ControlTask], t: usize) -> Vec<usize> {
    (0..tasks.len())
        .filter(|&d| tasks[d].after.contains(&t))
        .collect()
}

/// Ends the running try of `t` at random: failed, skipped (its exit code),
/// or succeeded with what a branch chooses or a short circuit says.
fn end_at_random(story: &mut Story, tasks: &[ControlTask], t: usize, dice: &mut Dice) {
    let name = format!("t{t}");
    match dice.below(100) {
        0..15 => story.end(&name, failed("random failure")),
        15..25 => story.end(
            &name,
            Outcome::Skipped {
                reason: "skipped: exit code 99".into(),
            },
        ),
        _ => {
            story.end(&name, Outcome::Succeeded);
            let mut output = serde_json::Map::new();
            if tasks[t].branch {
                let chosen: Vec<String> = after(tasks, t)
                    .into_iter()
                    .filter(|_| dice.below(2) == 0)
                    .map(|d| format!("t{d}"))
                    .collect();
                output.insert("branch".into(), serde_json::json!(chosen));
            }
            if !tasks[t].circuit.is_empty() {
                output.insert("continue".into(), serde_json::json!(dice.below(3) > 0));
            }
            let at = story
                .instances
                .iter()
                .position(|i| i.key.task_id.as_str() == name)
                .unwrap();
            story.instances[at].output = Some(serde_json::Value::Object(output));
        }
    }
}

fn oracle<'a>(story: &Story, tasks: &'a [ControlTask]) -> Oracle<'a> {
    let instance = |t: usize| story.instance(&format!("t{t}"));
    Oracle {
        tasks,
        states: (0..tasks.len()).map(|t| instance(t).state).collect(),
        outputs: (0..tasks.len())
            .map(|t| instance(t).output.clone())
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn branches_and_short_circuits_end_every_task_as_the_rules_define(
        tasks in dags(),
        seed in any::<u64>(),
    ) {
        let mut story = Story::new(&to_yaml(&tasks));
        let mut dice = Dice(seed);
        for _ in 0..(40 * tasks.len() + 40) {
            let transitions = plan(&story.spec, &story.run, &story.instances, story.now);
            story.apply(&transitions);
            // Whatever was queued now was allowed to run by what is final
            // before it.
            let now = oracle(&story, &tasks);
            for transition in &transitions {
                if let Transition::Task(change) = transition
                    && change.next.state == TaskState::Queued
                {
                    let t: usize = change.next.key.task_id.as_str()[1..].parse().unwrap();
                    for &u in &tasks[t].after {
                        let decided = tasks[u].branch || !tasks[u].circuit.is_empty();
                        prop_assert!(
                            !decided || now.states[u].is_terminal(),
                            "t{t} queued before t{u} decided"
                        );
                    }
                    prop_assert!(!now.cut(t) && !now.ruled_out(t), "t{} queued though ruled out", t);
                }
            }
            if story.run.state.is_terminal() {
                break;
            }
            let active: Vec<usize> = (0..tasks.len())
                .filter(|&t| {
                    matches!(story.state(&format!("t{t}")).0, TaskState::Queued | TaskState::Running)
                })
                .collect();
            prop_assert!(!active.is_empty(), "the run is stuck: nothing runs, nothing ends");
            let t = active[dice.below(active.len())];
            match story.state(&format!("t{t}")).0 {
                TaskState::Queued => story.start(&format!("t{t}")),
                _ => end_at_random(&mut story, &tasks, t, &mut dice),
            }
            story.now += Duration::seconds(1);
        }
        prop_assert!(story.run.state.is_terminal(), "the run did not end");
        let end = oracle(&story, &tasks);
        for (t, task) in tasks.iter().enumerate() {
            let upstream: Vec<TaskState> = task.after.iter().map(|&u| end.states[u]).collect();
            let ran = story.state(&format!("t{t}")).1 > 0;
            if ran {
                prop_assert!(
                    rule_holds(task.rule, &upstream),
                    "t{} ({}) ran with upstream {:?}", t, task.rule, upstream
                );
            } else {
                prop_assert!(
                    end.cut(t) || end.ruled_out(t) || !rule_holds(task.rule, &upstream),
                    "t{} ({}) never ran though its rule holds: {:?}", t, task.rule, upstream
                );
                prop_assert!(
                    end.settled(t).contains(&end.states[t]),
                    "t{} ({}) ended {:?}, not one of {:?}", t, task.rule, end.states[t], end.settled(t)
                );
            }
        }
    }
}
