//! Issue 29, sign-in: the dashboard of a team against a small OpenID
//! Connect issuer this test runs on 127.0.0.1 (discovery, authorize,
//! token with PKCE, keys; ES256). A person is sent to sign in and back; a
//! viewer sees pages but no action and a forged POST is refused; an
//! operator reruns a task and the audit names them; a session signed with
//! another key, or an action token of another session, is refused; a
//! script's bearer token reads the API.

use updraft_engine::Settings;
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;
use updraft_ui::auth::oidc::Client;
use updraft_ui::auth::{Fetch, Person, Role, SessionKey, SignIn, SignInConfig};
use updraft_ui::testing::{Issuer, User};
use updraft_ui::{Request, Response, Ui};

const SPEC: &str = "dag: etl\ntasks:\n  - id: a\n    command: [x]\n";
const CLIENT: &str = "dashboard";
const SECRET: &str = "s3cret";
const KEY: [u8; 64] = [42; 64];

fn sign_in_for(issuer: &Issuer, key: &[u8]) -> SignIn {
    let config = SignInConfig {
        issuer: issuer.base.clone(),
        client: Client {
            id: CLIENT.into(),
            secret: Some(SECRET.into()),
            redirect_uri: "http://dash.test/auth/callback".into(),
        },
        groups_claim: "cognito:groups".into(),
        operators_group: "operators".into(),
        secure: true,
    };
    SignIn::new(config, SessionKey::new(key).unwrap()).unwrap()
}

/// The `name=value` of each cookie an answer sets.
fn cookies(response: &Response) -> Vec<(String, String)> {
    response
        .cookies
        .iter()
        .filter_map(|line| {
            let pair = line.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

fn with_cookies(request: Request, jar: &[(String, String)]) -> Request {
    let header: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
    request.with_credentials(Some(&header.join("; ")), None)
}

/// Signs `user` in the way a browser does: to the login page, to the
/// issuer, back to the callback. Returns the session cookie.
async fn sign_in(ui: &Ui, issuer: &Issuer, user: User) -> Vec<(String, String)> {
    issuer.sign_in_next(user);
    let login = ui.handle(&Request::get("/auth/login?next=/dags/etl")).await;
    assert_eq!(login.status, 302, "{}", login.body);
    let to_issuer = login.location.clone().unwrap();
    assert!(
        to_issuer.starts_with(&format!("{}/authorize?", issuer.base)),
        "{to_issuer}"
    );
    let jar = cookies(&login);
    let (status, back) = Fetch::new().unwrap().get(&to_issuer).await.unwrap();
    assert_eq!(status, 302);
    let back = String::from_utf8(back).unwrap();
    let callback = back.strip_prefix("http://dash.test").unwrap();
    let answered = ui.handle(&with_cookies(Request::get(callback), &jar)).await;
    assert_eq!(answered.status, 302, "{}", answered.body);
    assert_eq!(
        answered.location.as_deref(),
        Some("/dags/etl"),
        "back where it started"
    );
    let set = cookies(&answered);
    assert!(answered.cookies[0].contains("HttpOnly") && answered.cookies[0].contains("Secure"));
    set.into_iter()
        .filter(|(n, _)| n == "updraft_session")
        .collect()
}

fn ana() -> User {
    User::new("Ana Lima", "ana@example.com", &[])
}

fn operator(user: User) -> User {
    User {
        groups: vec!["operators".into()],
        ..user
    }
}

async fn issuer() -> std::sync::Arc<Issuer> {
    Issuer::start(CLIENT, Some(SECRET)).await
}

/// The action token a page's forms carry.
fn token_on(page: &str) -> String {
    let at = page
        .find("name=\"token\" value=\"")
        .expect("a form with a token")
        + 20;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_person_signs_in_at_the_issuer_and_acts_as_their_role_allows() {
    let issuer = issuer().await;
    let world = World::new(SPEC, None, Settings::default());
    let run = world
        .engine
        .trigger("etl", RunRequest::by("cron"))
        .await
        .unwrap();
    let message = world.next_message().await.unwrap();
    world.engine.dispatch(&message).await.unwrap();
    let ui = Ui::signed_in(world.engine.clone(), sign_in_for(&issuer, &KEY));

    // No session: a page sends the browser to sign in, the API refuses.
    let page = ui.handle(&Request::get("/dags/etl?runs=5")).await;
    assert_eq!(page.status, 302);
    assert_eq!(
        page.location.as_deref(),
        Some("/auth/login?next=%2Fdags%2Fetl%3Fruns%3D5")
    );
    assert_eq!(ui.handle(&Request::get("/api/v1/dags")).await.status, 401);

    // A viewer sees the DAG and the run, and no action; a POST is refused.
    let viewer = sign_in(&ui, &issuer, ana()).await;
    let grid = ui
        .handle(&with_cookies(Request::get("/dags/etl"), &viewer))
        .await;
    assert_eq!(grid.status, 200);
    assert!(
        grid.body.contains(
            "Ana Lima &lt;ana@example.com&gt; · viewer · <form class=\"signout\" method=\"post\" action=\"/auth/logout\">"
        ),
        "the header says who is signed in: {}",
        grid.body
    );
    assert!(
        grid.body.contains("data-task=\"a\"") && grid.body.matches("name=\"token\"").count() == 1,
        "only the sign-out form carries a token: {}",
        grid.body
    );
    let rerun_path = format!(
        "/dags/etl/runs/{}/rerun",
        updraft_ui::http::encode(&run.run_id)
    );
    let forged = ui
        .handle(&with_cookies(
            Request::post(&rerun_path, "token=guess&task=a"),
            &viewer,
        ))
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("viewer"), "{}", forged.body);

    // An operator's pages carry their session's token; their rerun is
    // recorded as theirs.
    let ops = sign_in(&ui, &issuer, operator(ana())).await;
    let grid = ui
        .handle(&with_cookies(Request::get("/dags/etl"), &ops))
        .await;
    let token = token_on(&grid.body);
    let done = ui
        .handle(&with_cookies(
            Request::post(&rerun_path, &format!("token={token}&task=a")),
            &ops,
        ))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let detail = world.engine.run_detail("etl", &run.run_id).await.unwrap();
    assert_eq!(detail.audit[0].by, "Ana Lima <ana@example.com>");

    // Another instance of the dashboard (same key) accepts the same token.
    let twin = Ui::signed_in(world.engine.clone(), sign_in_for(&issuer, &KEY));
    let paused = twin
        .handle(&with_cookies(
            Request::post("/dags/etl/pause", &format!("token={token}")),
            &ops,
        ))
        .await;
    assert_eq!(paused.status, 303, "{}", paused.body);

    // An operator of another session cannot use Ana's token.
    let bo = User::new("Bo", "bo@example.com", &["operators"]);
    let bo = sign_in(&ui, &issuer, bo).await;
    let stolen = ui
        .handle(&with_cookies(
            Request::post("/dags/etl/unpause", &format!("token={token}")),
            &bo,
        ))
        .await;
    assert_eq!(stolen.status, 403);
    assert!(world.engine.is_paused("etl").await.unwrap());

    // A session signed with another key is no session.
    let elsewhere = SessionKey::new(&[7; 64]).unwrap();
    let forged = Person {
        sub: "u-eve".into(),
        name: "Eve".into(),
        email: "eve@example.com".into(),
        role: Role::Operator,
        session: "s".into(),
        expires: chrono::Utc::now().timestamp() + 3600,
    };
    let line = elsewhere.seal(&forged, true);
    let value = line
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let jar = vec![("updraft_session".to_string(), value)];
    assert_eq!(
        ui.handle(&with_cookies(Request::get("/"), &jar))
            .await
            .status,
        302
    );

    // Signing out is a POST with the session's token: a GET, another
    // token or a page of another site leaves the session as it is.
    let sign_out = |form: &str| with_cookies(Request::post("/auth/logout", form), &ops);
    for (refused, status) in [
        (with_cookies(Request::get("/auth/logout"), &ops), 405),
        (sign_out("token=guess"), 403),
        (sign_out(""), 403),
        (
            sign_out(&format!("token={token}"))
                .with_origin(Some("https://evil.example"), Some("dash.test")),
            403,
        ),
    ] {
        let answer = ui.handle(&refused).await;
        assert_eq!(answer.status, status, "{}", answer.body);
        assert!(answer.cookies.is_empty(), "{:?}", answer.cookies);
    }
    // The header's button removes it.
    let out = ui.handle(&sign_out(&format!("token={token}"))).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body.contains("You are signed out"), "{}", out.body);
    assert!(
        out.cookies[0].starts_with("updraft_session=;"),
        "{:?}",
        out.cookies
    );
}

#[tokio::test]
async fn a_script_reads_the_api_with_a_bearer_token_of_the_issuer_only() {
    let issuer = issuer().await;
    let world = World::new(SPEC, None, Settings::default());
    let ui = Ui::signed_in(world.engine.clone(), sign_in_for(&issuer, &KEY));
    let token = issuer.id_token(&ana(), "n");
    let api = |token: &str| {
        Request::get("/api/v1/dags").with_credentials(None, Some(&format!("Bearer {token}")))
    };
    let read = ui.handle(&api(&token)).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(read.body.contains("\"etl\""));
    // Signed by a key the issuer does not publish.
    let forged = issuer.forged_token(&ana());
    assert_eq!(ui.handle(&api(&forged)).await.status, 401);
    // A bearer token opens no page: pages need the browser's session.
    let page = Request::get("/").with_credentials(None, Some(&format!("Bearer {token}")));
    assert_eq!(ui.handle(&page).await.status, 302);
}

#[tokio::test]
async fn a_callback_without_its_login_or_with_another_state_is_refused() {
    let issuer = issuer().await;
    let world = World::new(SPEC, None, Settings::default());
    let ui = Ui::signed_in(world.engine.clone(), sign_in_for(&issuer, &KEY));
    let stray = ui
        .handle(&Request::get("/auth/callback?code=x&state=y"))
        .await;
    assert_eq!(stray.status, 400);
    assert!(stray.body.contains("not started here"), "{}", stray.body);
    let login = ui.handle(&Request::get("/auth/login")).await;
    let jar = cookies(&login);
    let other_state = ui
        .handle(&with_cookies(
            Request::get("/auth/callback?code=x&state=another"),
            &jar,
        ))
        .await;
    assert_eq!(other_state.status, 400);
    assert!(
        other_state.body.contains("state does not match"),
        "{}",
        other_state.body
    );
    let refused = ui
        .handle(&with_cookies(
            Request::get("/auth/callback?error=access_denied&error_description=no+thanks"),
            &jar,
        ))
        .await;
    assert!(refused.body.contains("no thanks"), "{}", refused.body);
}

#[tokio::test]
async fn without_a_configured_callback_the_issuer_sends_people_back_to_the_host_they_came_to() {
    let issuer = issuer().await;
    let world = World::new(SPEC, None, Settings::default());
    let config = SignInConfig {
        issuer: issuer.base.clone(),
        client: Client {
            id: CLIENT.into(),
            secret: None,
            redirect_uri: String::new(),
        },
        groups_claim: "cognito:groups".into(),
        operators_group: "operators".into(),
        secure: true,
    };
    let sign_in = SignIn::new(config, SessionKey::new(&KEY).unwrap()).unwrap();
    let ui = Ui::signed_in(world.engine.clone(), sign_in);
    let login =
        Request::get("/auth/login").with_origin(None, Some("abc.lambda-url.us-east-1.on.aws"));
    let to_issuer = ui.handle(&login).await.location.unwrap();
    assert!(
        to_issuer.contains(
            "redirect_uri=https%3A%2F%2Fabc.lambda-url.us-east-1.on.aws%2Fauth%2Fcallback"
        ),
        "{to_issuer}"
    );
}
