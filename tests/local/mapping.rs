//! Data between tasks: outputs, dynamic fan-out over data, lineage.

use updraft_e2e::{World, most_at_once, spans};

/// split writes 50 shards; featurize maps over them four at a time (from
/// the tasks' own clocks); combine reads the list of 50 outputs.
#[test]
fn fan_out_over_fifty_shards_four_at_a_time() {
    let world = World::new();
    world.spec(
        "shards.yaml",
        r#"dag: shards
tasks:
  - id: split
    command: [python3, -c, "import json, os; json.dump({'shards': [f'part-{i:02}' for i in range(50)]}, open(os.environ['UPDRAFT_OUTPUT'], 'w'))"]
  - id: featurize
    after: [split]
    map_over: "{{ outputs.split.shards }}"
    max_parallel: 4
    command:
      - python3
      - -c
      - |
        import json, os, sys, time
        start = time.time()
        time.sleep(0.05)
        json.dump({"shard": sys.argv[1], "rows": int(os.environ["UPDRAFT_MAP_INDEX"])}, open(os.environ["UPDRAFT_OUTPUT"], "w"))
        with open(os.path.join(os.environ["WORLD"], "spans"), "a") as f:
            f.write(f"{start} {time.time()}\n")
      - "{{ item }}"
  - id: combine
    after: [featurize]
    command: [python3, -c, "import json, sys; rows = json.loads(sys.argv[1]); print(len(rows), sum(r['rows'] for r in rows), rows[49]['shard'])", "{{ outputs.featurize | tojson }}"]
"#,
    );
    let run = world
        .run(&["run", "shards", "--workers", "8", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run"]["run_id"].as_str().unwrap();
    assert_eq!(World::task(&run, "featurize").0, "mapped");
    let spans = spans(&world);
    assert_eq!(spans.len(), 50, "every shard ran once");
    let most_at_once = most_at_once(&spans);
    assert!(most_at_once <= 4, "at most 4 at once, saw {most_at_once}");
    assert!(most_at_once >= 2, "ran in parallel, saw {most_at_once}");
    let log = world
        .run(&["logs", "shards", run_id, "combine"])
        .expect(0)
        .stdout;
    assert_eq!(log.trim(), "50 1225 part-49");
    let one = world
        .run(&["output", "shards", run_id, "featurize", "--map-index", "7"])
        .expect(0)
        .json();
    assert_eq!(one, serde_json::json!({"shard": "part-07", "rows": 7}));
}

/// An empty list skips the mapped task, and its all_success downstream.
#[test]
fn an_empty_list_skips() {
    let world = World::new();
    world.spec(
        "empty.yaml",
        "dag: empty\ntasks:\n  - id: split\n    command: [sh, -c, 'echo ''{\"shards\": []}'' > \"$UPDRAFT_OUTPUT\"']\n  - id: each\n    after: [split]\n    map_over: '{{ outputs.split.shards }}'\n    command: [echo, '{{ item }}']\n  - id: after\n    after: [each]\n    command: [echo, done]\n",
    );
    let run = world
        .run(&["run", "empty", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(World::task(&run, "each"), ("skipped".into(), 0));
    assert_eq!(World::task(&run, "after"), ("skipped".into(), 0));
}

#[test]
fn logs_of_one_mapped_instance() {
    let world = World::new();
    world.spec(
        "each.yaml",
        "dag: each
tasks:
  - id: split
    command: [sh, -c, 'echo ''{\"items\": [\"a\", \"b\", \"c\"]}'' > \"$UPDRAFT_OUTPUT\"']
  - id: say
    after: [split]
    map_over: '{{ outputs.split.items }}'
    command: [echo, 'item {{ item }}']
",
    );
    let run = world
        .run(&["run", "each", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run"]["run_id"].as_str().unwrap();
    for (index, item) in ["a", "b", "c"].iter().enumerate() {
        let index = index.to_string();
        let printed = world
            .run(&["logs", "each", run_id, "say", "--map-index", &index])
            .expect(0)
            .stdout;
        assert_eq!(printed, format!("item {item}\n"));
    }
}

/// 10,001 items are more than the default bound: the task fails, naming it.
#[test]
fn more_items_than_max_map_fail_naming_the_bound() {
    let world = World::new();
    world.spec(
        "many.yaml",
        "dag: many\ntasks:\n  - id: split\n    command: [python3, -c, \"import json, os; json.dump({'n': list(range(10001))}, open(os.environ['UPDRAFT_OUTPUT'], 'w'))\"]\n  - id: each\n    after: [split]\n    map_over: '{{ outputs.split.n }}'\n    command: ['true']\n",
    );
    let run = world
        .run(&["run", "many", "--output", "json"])
        .expect(1)
        .json();
    let each = run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "each")
        .unwrap()
        .clone();
    assert_eq!(each["state"], "failed");
    assert_eq!(
        each["reason"],
        "map_over gave 10001 items, more than max_map (10000)"
    );
}

/// A bad output fails the try with the reason.
#[test]
fn an_output_that_is_not_a_json_object_fails_the_try() {
    let world = World::new();
    world.spec(
        "bad.yaml",
        "dag: bad\ntasks:\n  - id: a\n    command: [sh, -c, 'echo [1] > \"$UPDRAFT_OUTPUT\"']\n",
    );
    let run = world
        .run(&["run", "bad", "--output", "json"])
        .expect(1)
        .json();
    assert_eq!(
        run["tasks"][0]["reason"],
        "output must be a JSON object, e.g. {\"rows\": 42}"
    );
}

/// train produces a model in two runs; evaluate consumes one of them.
#[test]
fn lineage_lists_producers_newest_first_and_consumers() {
    let world = World::new();
    world.spec(
        "ml.yaml",
        "dag: ml\nparams: { day: '2026-11-20' }\ntasks:\n  - id: train\n    produces: ['s3://models/ranking/{{ params.day }}/model.tar.gz']\n    command: [echo, training]\n  - id: evaluate\n    after: [train]\n    consumes: ['s3://models/ranking/{{ params.day }}/model.tar.gz']\n    command: [sh, -c, 'echo ''{\"artifacts\": [\"s3://reports/{{ params.day }}.html\"]}'' > \"$UPDRAFT_OUTPUT\"']\n",
    );
    let first = world
        .run(&["run", "ml", "--output", "json"])
        .expect(0)
        .json();
    let second = world
        .run(&["run", "ml", "--output", "json"])
        .expect(0)
        .json();
    let other = world
        .run(&["run", "ml", "--param", "day=2026-11-21", "--output", "json"])
        .expect(0)
        .json();
    let id = |run: &serde_json::Value| run["run"]["run_id"].as_str().unwrap().to_string();
    let model = "s3://models/ranking/2026-11-20/model.tar.gz";
    let lineage = world
        .run(&["lineage", model, "--output", "json"])
        .expect(0)
        .json();
    let runs = |list: &serde_json::Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["run_id"].as_str().unwrap().to_string(),
                    r["task_id"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        runs(&lineage["produced_by"]),
        [(id(&second), "train".into()), (id(&first), "train".into())]
    );
    assert_eq!(
        runs(&lineage["consumed_by"]),
        [
            (id(&second), "evaluate".into()),
            (id(&first), "evaluate".into())
        ]
    );

    let of_run = world
        .run(&["lineage", "ml", &id(&other), "--output", "json"])
        .expect(0)
        .json();
    let uris = |list: &serde_json::Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["uri"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        uris(&of_run["produced"]),
        [
            "s3://models/ranking/2026-11-21/model.tar.gz",
            "s3://reports/2026-11-21.html"
        ]
    );
    assert_eq!(
        uris(&of_run["consumed"]),
        ["s3://models/ranking/2026-11-21/model.tar.gz"]
    );

    let produced = world
        .run(&["runs", "--produced", model, "--output", "json"])
        .expect(0)
        .json();
    let ids: Vec<&str> = produced
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id(&second), id(&first)]);
    let by_param = world
        .run(&["runs", "--param", "day=2026-11-21", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(by_param.as_array().unwrap().len(), 1);
    assert_eq!(by_param[0]["params"]["day"], "2026-11-21");
}

/// One mapped instance is rerun on its own; the others keep their try.
#[test]
fn rerun_of_one_mapped_instance() {
    let world = World::new();
    world.spec(
        "each.yaml",
        "dag: each\ntasks:\n  - id: work\n    map_over: [a, b, c]\n    command: [sh, -c, 'echo {{ item }} >> \"$WORLD/ran\"; test {{ item }} != b || test -f \"$WORLD/fixed\"']\n",
    );
    let run = world
        .run(&["run", "each", "--output", "json"])
        .expect(1)
        .json();
    let run_id = run["run"]["run_id"].as_str().unwrap().to_string();
    std::fs::write(world.path().join("fixed"), "").unwrap();
    let _dev = world.dev();
    world
        .run(&[
            "rerun",
            "each",
            &run_id,
            "work",
            "--map-index",
            "1",
            "--wait",
        ])
        .expect(0);
    let show = world.show("each", &run_id);
    let tries: Vec<(Option<u64>, u64)> = show["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["map_index"].as_u64(), t["try_number"].as_u64().unwrap()))
        .collect();
    assert_eq!(tries, [(None, 0), (Some(0), 1), (Some(1), 2), (Some(2), 1)]);
    let mut ran: Vec<String> = std::fs::read_to_string(world.path().join("ran"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    ran.sort();
    assert_eq!(ran, ["a", "b", "b", "c"]);
}
