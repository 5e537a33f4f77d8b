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
