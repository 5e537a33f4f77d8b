//! Rendering and checking templates.

use super::*;
use chrono_tz::{Asia::Tokyo, Europe::Berlin};

fn z(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn render_in(tz: Tz, point: &str, start: &str, source: &str) -> Result<String, String> {
    let params = json!({"lr": 0.001, "name": "rank"});
    let outputs = json!({"split": {"shards": ["a", "b"]}});
    let vars = TemplateVars {
        dag: "etl",
        run_id: "scheduled__x",
        task_id: "load",
        try_number: 2,
        timing: RunTiming {
            logical_date: z(point),
            data_interval_start: z(start),
            data_interval_end: z(point),
        },
        tz,
        params: params.as_object().unwrap(),
        outputs: outputs.as_object().unwrap(),
        item: None,
        trigger: None,
    };
    Renderer::new(&vars).render(source)
}

/// The variables of a daily run in Tokyo for 2026-11-21, task `load`.
fn daily_vars<'a>(
    params: &'a Map<String, Value>,
    outputs: &'a Map<String, Value>,
) -> TemplateVars<'a> {
    TemplateVars {
        dag: "etl",
        run_id: "r",
        task_id: "load",
        try_number: 1,
        timing: RunTiming {
            logical_date: z("2026-11-21T00:00:00+09:00"),
            data_interval_start: z("2026-11-20T00:00:00+09:00"),
            data_interval_end: z("2026-11-21T00:00:00+09:00"),
        },
        tz: Tokyo,
        params,
        outputs,
        item: None,
        trigger: None,
    }
}

fn tokyo(source: &str) -> Result<String, String> {
    render_in(
        Tokyo,
        "2026-11-21T00:00:00+09:00",
        "2026-11-20T00:00:00+09:00",
        source,
    )
}

#[test]
fn dates_render_in_the_dags_zone() {
    assert_eq!(tokyo("{{ ds }}").unwrap(), "2026-11-21");
    assert_eq!(
        tokyo("{{ data_interval_start | ds }}").unwrap(),
        "2026-11-20"
    );
    assert_eq!(
        tokyo("{{ logical_date }}").unwrap(),
        "2026-11-21T00:00:00+09:00"
    );
    assert_eq!(tokyo("{{ ts }}").unwrap(), "2026-11-21T00:00:00+09:00");
    assert_eq!(tokyo("{{ ds_nodash }}").unwrap(), "20261121");
    assert_eq!(
        tokyo("{{ data_interval_end | ts }}").unwrap(),
        "2026-11-21T00:00:00+09:00"
    );
}

#[test]
fn filters_convert_format_and_shift() {
    assert_eq!(
        tokyo("{{ logical_date | utc }}").unwrap(),
        "2026-11-20T15:00:00Z"
    );
    assert_eq!(
        tokyo("{{ logical_date | utc | ds }}").unwrap(),
        "2026-11-20"
    );
    assert_eq!(
        tokyo("{{ logical_date | date('%Y/%m/%d %H') }}").unwrap(),
        "2026/11/21 00"
    );
    assert_eq!(
        tokyo("{{ logical_date | add_days(-1) | ds }}").unwrap(),
        "2026-11-20"
    );
    assert_eq!(
        tokyo("{{ logical_date | utc | add_days(1) }}").unwrap(),
        "2026-11-21T15:00:00Z"
    );
}

#[test]
fn add_days_keeps_local_time_across_dst() {
    // Berlin falls back on 2026-10-25: one day after 00:00 CEST is 00:00 CET.
    let out = render_in(
        Berlin,
        "2026-10-25T00:00:00+02:00",
        "2026-10-24T00:00:00+02:00",
        "{{ logical_date | add_days(1) }}",
    );
    assert_eq!(out.unwrap(), "2026-10-26T00:00:00+01:00");
}

#[test]
fn params_outputs_and_run_fields_are_readable() {
    assert_eq!(tokyo("{{ params.lr }}").unwrap(), "0.001");
    assert_eq!(
        tokyo("{{ outputs.split.shards | join(',') }}").unwrap(),
        "a,b"
    );
    assert_eq!(
        tokyo("{{ dag }}/{{ run_id }}/{{ task_id }}/{{ try_number }}").unwrap(),
        "etl/scheduled__x/load/2"
    );
    assert_eq!(tokyo("no template").unwrap(), "no template");
}

#[test]
fn render_errors_say_what_failed() {
    let err = tokyo("{{ params.missing }}").unwrap_err();
    assert!(err.contains("undefined value"), "{err}");
    let err = tokyo("{{ logical_date | date('%Q') }}").unwrap_err();
    assert!(err.contains("`%Q` is not a valid date format"), "{err}");
    let err = tokyo("{{ dag | ds }}").unwrap_err();
    assert!(err.contains("is not a date-time"), "{err}");
}

#[test]
fn the_checker_finds_syntax_errors_unknown_variables_and_output_reads() {
    let checker = TemplateChecker::default();
    let err = checker.check("{{ ds }").unwrap_err();
    assert!(
        err.starts_with("template `{{ ds }` does not parse: syntax error"),
        "{err}"
    );
    let err = checker.check("n=${#1}").unwrap_err();
    assert!(
        err.ends_with("`{#` starts a template comment: write a shell's ${#var} another way or inside {% raw %}...{% endraw %}"),
        "{err}"
    );
    let err = checker.check("{{ execution_date }}").unwrap_err();
    assert!(
        err.ends_with("updraft writes it as `logical_date`"),
        "{err}"
    );
    let err = checker.check("{{ nope }}").unwrap_err();
    assert!(
        err.contains("unknown variable `nope`; known variables: dag,"),
        "{err}"
    );
    assert!(checker.check("{{ item.path }}").unwrap().reads_item);
    let used = checker.check(
        "{{ outputs.split.shards }} {{ outputs.b }} {% for x in range(3) %}{{ x }}{% endfor %}",
    );
    assert_eq!(used.unwrap().outputs, ["b", "split"]);
}

#[test]
fn a_tasks_fields_render_together_and_errors_name_the_field() {
    let spec = crate::spec::parse_spec(
        "t.yaml",
        "dag: etl\ntimezone: Asia/Tokyo\ntasks:\n  - id: load\n    image: \"etl:{{ params.tag }}\"\n    command: [load, --day, \"{{ ds }}\"]\n    environment: { SINCE: \"{{ data_interval_start | ds }}\" }\n  - id: bad\n    command: [x, \"{{ params.nope }}\"]\n",
    )
    .unwrap();
    let params = json!({"tag": "1.4"});
    let outputs = Map::new();
    let vars = daily_vars(params.as_object().unwrap(), &outputs);
    let rendered = render_task(spec.task("load").unwrap(), &vars).unwrap();
    assert_eq!(rendered.image.as_deref(), Some("etl:1.4"));
    assert_eq!(rendered.command.unwrap(), ["load", "--day", "2026-11-21"]);
    assert_eq!(rendered.environment["SINCE"], "2026-11-20");
    let err = render_task(spec.task("bad").unwrap(), &vars).unwrap_err();
    assert!(
        err.starts_with(
            "task `bad` command[1]: template `{{ params.nope }}` failed: undefined value"
        ),
        "{err}"
    );
}

#[test]
fn params_reach_a_task_as_variables_and_its_own_environment_wins() {
    let spec = crate::spec::parse_spec(
        "t.yaml",
        "dag: d\ntasks:\n  - id: t\n    command: [env]\n    environment: { UPDRAFT_PARAM_KEPT: mine }\n",
    )
    .unwrap();
    let long = "x".repeat(crate::template::PARAM_VARIABLE_LIMIT + 1);
    let params = json!({"region": "eu; rm -rf ~", "max-rows": 10, "on": true, "days": ["mon"], "kept": "theirs", "long": long});
    let outputs = Map::new();
    let vars = daily_vars(params.as_object().unwrap(), &outputs);
    let env = render_task(spec.task("t").unwrap(), &vars)
        .unwrap()
        .environment;
    assert_eq!(env["UPDRAFT_PARAM_REGION"], "eu; rm -rf ~");
    assert_eq!(env["UPDRAFT_PARAM_MAX_ROWS"], "10");
    assert_eq!(env["UPDRAFT_PARAM_ON"], "true");
    assert_eq!(env["UPDRAFT_PARAM_DAYS"], r#"["mon"]"#);
    assert_eq!(env["UPDRAFT_PARAM_KEPT"], "mine");
    assert!(!env.contains_key("UPDRAFT_PARAM_LONG"), "over the limit");
}

#[test]
fn lists_render_as_lists() {
    let params = json!({"days": ["mon", "tue"]});
    let outputs = json!({"split": {"shards": [{"path": "a"}, {"path": "b"}]}, "n": {"count": 3}});
    let item = json!({"path": "x"});
    let vars = TemplateVars {
        dag: "d",
        run_id: "r",
        task_id: "t",
        try_number: 1,
        timing: RunTiming {
            logical_date: z("2026-11-21T00:00:00Z"),
            data_interval_start: z("2026-11-20T00:00:00Z"),
            data_interval_end: z("2026-11-21T00:00:00Z"),
        },
        tz: Tokyo,
        params: params.as_object().unwrap(),
        outputs: outputs.as_object().unwrap(),
        item: Some(&item),
        trigger: None,
    };
    let renderer = Renderer::new(&vars);
    assert_eq!(
        renderer.render_list("{{ outputs.split.shards }}").unwrap(),
        [json!({"path": "a"}), json!({"path": "b"})]
    );
    assert_eq!(
        renderer.render_list(" {{ params.days }} ").unwrap(),
        [json!("mon"), json!("tue")]
    );
    assert_eq!(
        renderer
            .render_list("{{ range(outputs.n.count) | list }}")
            .unwrap(),
        [json!(0), json!(1), json!(2)]
    );
    assert_eq!(
        renderer.render_list("[1, {{ outputs.n.count }}]").unwrap(),
        [json!(1), json!(3)]
    );
    assert_eq!(renderer.render("{{ item.path }}").unwrap(), "x");
    let err = renderer.render_list("{{ outputs.n.count }}").unwrap_err();
    assert_eq!(
        err,
        "template `{{ outputs.n.count }}` gave a number, not a list"
    );
    let err = renderer.render_list("a{{ 1 }}").unwrap_err();
    assert!(err.contains("which is not a JSON list"), "{err}");
}

#[test]
fn shquote_makes_any_value_one_word_of_a_shell_line() {
    let params = json!({
        "hostile": "x; id > /tmp/owned",
        "quote": "it's $(whoami) `id`",
        "n": 3,
        "list": ["a b", "c"],
    });
    let outputs = json!({});
    let vars = TemplateVars {
        dag: "etl",
        run_id: "manual__x",
        task_id: "load",
        try_number: 1,
        timing: RunTiming {
            logical_date: z("2026-11-21T00:00:00Z"),
            data_interval_start: z("2026-11-21T00:00:00Z"),
            data_interval_end: z("2026-11-21T00:00:00Z"),
        },
        tz: Tokyo,
        params: params.as_object().unwrap(),
        outputs: outputs.as_object().unwrap(),
        item: None,
        trigger: None,
    };
    let render = |source: &str| Renderer::new(&vars).render(source).unwrap();
    assert_eq!(
        render("echo {{ params.hostile | shquote }}"),
        "echo 'x; id > /tmp/owned'"
    );
    assert_eq!(
        render("echo {{ params.quote | shquote }}"),
        r#"echo 'it'\''s $(whoami) `id`'"#
    );
    assert_eq!(render("{{ params.n | shquote }}"), "'3'");
    assert_eq!(render("{{ params.list | shquote }}"), r#"'["a b","c"]'"#);
}

#[test]
fn a_template_that_would_render_for_minutes_or_to_gigabytes_is_refused_naming_the_limit() {
    let params = json!({});
    let outputs = Map::new();
    let vars = daily_vars(params.as_object().unwrap(), &outputs);
    let renderer = crate::template::Renderer::new(&vars);
    let nested = "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}x{% endfor %}{% endfor %}{% endfor %}";
    let err = renderer.render(nested).unwrap_err();
    assert!(err.contains("steps to render (the limit)"), "{err}");
    let wide = "{% for a in range(1000) %}{{ 'y' * 10000000 }}{% endfor %}";
    let err = renderer.render(wide).unwrap_err();
    assert!(
        err.contains("renders more than 1048576 bytes (the limit)"),
        "{err}"
    );
}

#[test]
fn a_service_tasks_keys_render_keeping_a_single_expressions_type() {
    let spec = crate::spec::parse_spec(
        "k.yaml",
        "dag: d\nparams: { n: 3, tags: [a, b] }\ncompute:\n  f: { kind: lambda, function: \"ingest-{{ ds }}\" }\ntasks:\n  - id: load\n    compute: f\n    payload: { n: \"{{ params.n }}\", tags: \"{{ params.tags }}\", label: \"n={{ params.n }}\" }\n",
    )
    .unwrap();
    let params = json!({"n": 3, "tags": ["a", "b"]});
    let outputs = Map::new();
    let vars = daily_vars(params.as_object().unwrap(), &outputs);
    let service = render_task(spec.task("load").unwrap(), &vars)
        .unwrap()
        .service
        .unwrap();
    assert_eq!(service["function"], "ingest-2026-11-21");
    assert_eq!(
        service["payload"],
        json!({"n": 3, "tags": ["a", "b"], "label": "n=3"})
    );
}

#[test]
fn a_lambda_task_without_a_payload_sends_its_runs_context() {
    let spec = crate::spec::parse_spec(
        "k.yaml",
        "dag: d\nparams: { n: 3 }\ncompute:\n  f: { kind: lambda, function: ingest }\ntasks:\n  - id: load\n    compute: f\n",
    )
    .unwrap();
    let params = json!({"n": 3});
    let outputs = Map::new();
    let vars = daily_vars(params.as_object().unwrap(), &outputs);
    let service = render_task(spec.task("load").unwrap(), &vars)
        .unwrap()
        .service
        .unwrap();
    assert_eq!(
        service["payload"],
        json!({
            "dag": "etl", "run_id": "r", "task_id": "load", "try_number": 1,
            "logical_date": "2026-11-21T00:00:00+09:00",
            "data_interval_start": "2026-11-20T00:00:00+09:00",
            "data_interval_end": "2026-11-21T00:00:00+09:00",
            "params": {"n": 3}, "item": null
        })
    );
}

/// The checker reads substitution-only templates without parsing them:
/// what it finds must be what minijinja's parser finds, errors included.
#[test]
fn substitutions_are_read_as_the_parser_reads_them() {
    let checker = TemplateChecker::default();
    for source in [
        "{{ ds }}",
        "s3://bucket/{{ ds }}/part-{{ task_id }}",
        "{{ outputs.split.shards }} {{ outputs.b }}{{outputs.b}}",
        "{{- ds_nodash -}}x{{ params.lr }}",
        "{{ item.path }} {{ item }}",
        "{{ nope }} {{ ds }}",
        "{{ zed }} {{ outputs.z }} {{ nope }} {{ outputs.a }} {{ outputs.z.b }}",
        "{{ outputs.z }} {{ outputs.a }} {{ outputs.z.b }}",
        "{{ ti.xcom }}",
        "{{ true }}",
        "{{ none }}",
        "{{ ds | ds_nodash }}",
        "{{ ds }",
        "{{ ds }} }}",
        "{ \"a\": 1 } {{ dag }}",
        "{{ {'a': 1} }}",
        "{{ 1 }}",
        "{{ a.1 }}",
        "{{ _x }}",
        "{{ range }}",
        "{{ outputs }}",
        "{{ }}",
        "{{ dag }}{{",
        "{{ ds..x }}",
        "{{ ds. }}",
        "{{ .ds }}",
        "{{\tds\n}}",
        "{{ params._1.x_2 }} {{ outputs.t-1 }}",
        "{ {{ ds }} } }",
    ] {
        if let Some(fast) = check_substitutions(source) {
            assert_eq!(fast, checker.check_parsed(source), "{source}");
        }
        assert_eq!(
            checker.check(source),
            checker.check_parsed(source),
            "{source}"
        );
    }
    assert!(check_substitutions("a {{ ds }} b {{ outputs.x.y }}").is_some());
    assert!(check_substitutions("{% if ds %}{% endif %}").is_none());
}
