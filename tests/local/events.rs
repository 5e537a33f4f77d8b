//! Issue 13, events out locally: `updraft dev --on-event COMMAND` runs the
//! command for each event of a failing run, the event JSON on stdin, also
//! for changes another command made; a failing command is reported and
//! the loop goes on.

use std::time::Duration;

use serde_json::Value;
use updraft_e2e::{World, eventually};

const FAILING: &str =
    "dag: nightly\ntimezone: Asia/Tokyo\ntasks:\n  - id: load\n    command: [sh, -c, 'exit 3']\n";

/// Every event the command wrote, one file each, in the order of their times.
fn events(world: &World) -> Vec<Value> {
    let dir = world.path().join("events");
    let mut events: Vec<Value> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .filter_map(|text| serde_json::from_str(&text).ok())
                .collect()
        })
        .unwrap_or_default();
    events.sort_by_key(|e| e["time"].as_str().unwrap_or_default().to_string());
    events
}

fn told(events: &[Value]) -> Vec<String> {
    let mut told: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["detail-type"].as_str().unwrap_or("?"),
                e["detail"]["state"].as_str().unwrap_or("?")
            )
        })
        .collect();
    told.sort();
    told
}

#[test]
fn on_event_gets_each_event_of_a_failing_run_on_stdin() {
    let world = World::new();
    world.spec("nightly.yaml", FAILING);
    std::fs::create_dir(world.path().join("events")).unwrap();
    let command = format!(
        "cat > \"$(mktemp -p '{}' event.XXXXXX)\"",
        world.path().join("events").display()
    );
    let (_dev, url) = {
        let dev = world.dev_with(&["--ui-port", "0", "--on-event", &command]);
        let mut url = String::new();
        assert!(eventually(Duration::from_secs(20), || {
            url = world
                .dev_output()
                .lines()
                .find_map(|l| l.strip_prefix("updraft ui: ")?.split(' ').next())
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string();
            !url.is_empty()
        }));
        (dev, url)
    };
    // Triggered by another process: its events wait in the state for dev.
    let run = world
        .run(&["trigger", "nightly", "--wait", "--output", "json"])
        .expect(1)
        .json();
    let run_id = run["run_id"].as_str().unwrap();
    let expected = [
        "updraft Run State Change failed",
        "updraft Run State Change queued",
        "updraft Run State Change running",
        "updraft Task State Change failed",
    ];
    assert!(
        eventually(Duration::from_secs(20), || told(&events(&world))
            == expected),
        "{:?}\n{}",
        told(&events(&world)),
        world.dev_output()
    );
    let events = events(&world);
    for event in &events {
        assert_eq!(event["source"], "updraft");
        assert_eq!(event["detail"]["dag"], "nightly");
        assert_eq!(event["detail"]["run_id"], run_id);
        assert_eq!(event["id"], event["detail"]["id"]);
        assert!(
            event["detail"]["logical_date"]
                .as_str()
                .unwrap()
                .ends_with("+09:00")
        );
    }
    let task = events
        .iter()
        .find(|e| e["detail-type"] == "updraft Task State Change")
        .unwrap();
    assert_eq!(task["detail"]["task"], "load");
    assert_eq!(task["detail"]["reason"], "exit code 3");
    assert_eq!(task["detail"]["gave_up"], true);
    // The changes dev made itself link to its dashboard.
    let failed = events
        .iter()
        .find(|e| e["detail"]["state"] == "failed" && e["detail"]["task"].is_null())
        .unwrap();
    assert_eq!(
        failed["detail"]["ui"].as_str().unwrap(),
        format!(
            "{url}/dags/nightly/runs/{}",
            run_id.replace(':', "%3A").replace('+', "%2B")
        )
    );
}

#[test]
fn a_failing_on_event_command_is_reported_and_dev_goes_on() {
    let world = World::new();
    world.spec("nightly.yaml", FAILING);
    world.spec(
        "hello.yaml",
        "dag: hello\ntasks:\n  - id: a\n    command: [echo, hi]\n",
    );
    let _dev = world.dev_with(&["--no-ui", "--on-event", "cat > /dev/null; exit 7"]);
    world.run(&["trigger", "nightly", "--wait"]).expect(1);
    world.run(&["trigger", "hello", "--wait"]).expect(0);
    assert!(
        eventually(Duration::from_secs(20), || world
            .dev_output()
            .contains("failed: exit code 7")),
        "{}",
        world.dev_output()
    );
    assert!(
        world
            .dev_output()
            .contains("warning: --on-event for updraft Run State Change of nightly/"),
        "{}",
        world.dev_output()
    );
}
