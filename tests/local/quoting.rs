//! A param in a shell line: quoted with `shquote`, a hostile value stays
//! one word and runs nothing.

use updraft_e2e::World;

#[test]
fn a_hostile_param_quoted_with_shquote_is_printed_not_run() {
    let world = World::new();
    world.spec(
        "q.yaml",
        "dag: q\ntasks:\n  - id: echo\n    command: [sh, -c, 'printf %s {{ params.x | shquote }} > \"$WORLD/out\"']\n",
    );
    let hostile = "it's; touch \"$WORLD/owned\"; $(touch \"$WORLD/owned\") `touch owned`";
    world
        .run(&["run", "q", "--param", &format!("x={hostile}")])
        .expect(0);
    let out = std::fs::read_to_string(world.path().join("out")).unwrap();
    assert_eq!(out, hostile);
    assert!(!world.path().join("owned").exists(), "nothing ran");
}

#[test]
fn a_param_read_from_its_variable_is_never_a_shell_line() {
    let world = World::new();
    world.spec(
        "q.yaml",
        "dag: q\nparams: { x: plain }\ntasks:\n  - id: echo\n    command: [sh, -c, 'printf %s \"$UPDRAFT_PARAM_X\" > \"$WORLD/out\"']\n",
    );
    let hostile = "a; touch \"$WORLD/owned\" $(touch owned)";
    world
        .run(&["run", "q", "--param", &format!("x={hostile}")])
        .expect(0);
    let out = std::fs::read_to_string(world.path().join("out")).unwrap();
    assert_eq!(out, hostile);
    assert!(!world.path().join("owned").exists(), "nothing ran");
}

#[test]
fn validate_warns_of_an_unquoted_param_in_a_shell_line_at_its_line() {
    let world = World::new();
    world.spec(
        "q.yaml",
        "dag: q\nparams: { x: a }\ntasks:\n  - id: safe\n    command: [sh, -c, 'echo {{ params.x | shquote }}']\n  - id: unsafe\n    command:\n      - bash\n      - -c\n      - echo {{ params.x }}\n",
    );
    let ran = world.run(&["validate"]).expect(0);
    let warnings: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", ran.stdout);
    assert!(
        warnings[0].ends_with("q.yaml:10:9: warning: `{{ params.x }}` puts a value from outside the spec into a shell line unquoted, where `;`, `$(...)` or a space in it changes the command; write `{{ params.x | shquote }}`, or read it from the environment (params are $UPDRAFT_PARAM_<NAME>)"),
        "{}",
        warnings[0]
    );
    assert!(
        ran.stdout.contains("1 spec file(s) valid: q"),
        "{}",
        ran.stdout
    );
}
