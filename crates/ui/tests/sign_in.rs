//! Issue 29, sign-in: the dashboard of a team against a small OpenID
//! Connect issuer this test runs on 127.0.0.1 (discovery, authorize,
//! token with PKCE, keys; ES256). A person is sent to sign in and back; a
//! viewer sees pages but no action and a forged POST is refused; an
//! operator reruns a task and the audit names them; a session signed with
//! another key, or an action token of another session, is refused; a
//! script's bearer token reads the API.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use updraft_engine::Settings;
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;
use updraft_ui::auth::oidc::Client;
use updraft_ui::auth::{Fetch, Person, Role, SessionKey, SignIn, SignInConfig};
use updraft_ui::http::form_pairs;
use updraft_ui::{Request, Response, Ui};

const SPEC: &str = "dag: etl\ntasks:\n  - id: a\n    command: [x]\n";
const CLIENT: &str = "dashboard";
const SECRET: &str = "s3cret";
const KEY: [u8; 64] = [42; 64];

/// Someone the issuer signs in.
#[derive(Clone)]
struct User {
    sub: &'static str,
    name: &'static str,
    email: &'static str,
    groups: Vec<&'static str>,
}

/// A code the issuer handed out: for whom, and the sign-in it belongs to.
struct Grant {
    user: User,
    nonce: String,
    challenge: String,
}

/// The issuer's state: who signs in next, the codes it gave.
struct Issuer {
    base: String,
    signing: EncodingKey,
    jwk: Value,
    next: Mutex<Option<User>>,
    grants: Mutex<HashMap<String, Grant>>,
}

impl Issuer {
    fn id_token(&self, user: &User, nonce: &str, signing: &EncodingKey) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.base, "aud": CLIENT, "sub": user.sub, "name": user.name,
            "email": user.email, "cognito:groups": user.groups, "nonce": nonce,
            "iat": now, "exp": now + 3600,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        encode(&header, &claims, signing).unwrap()
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        query: &str,
        form: &str,
        basic: Option<&str>,
    ) -> (u16, String, Option<String>) {
        let pairs =
            |text: &str| -> HashMap<String, String> { form_pairs(text).into_iter().collect() };
        match (method, path) {
            ("GET", "/.well-known/openid-configuration") => (
                200,
                json!({
                    "issuer": self.base,
                    "authorization_endpoint": format!("{}/authorize", self.base),
                    "token_endpoint": format!("{}/token", self.base),
                    "jwks_uri": format!("{}/jwks", self.base),
                })
                .to_string(),
                None,
            ),
            ("GET", "/jwks") => (200, json!({"keys": [self.jwk]}).to_string(), None),
            ("GET", "/authorize") => {
                let q = pairs(query);
                assert_eq!(q["client_id"], CLIENT);
                assert_eq!(q["code_challenge_method"], "S256");
                let user = self
                    .next
                    .lock()
                    .unwrap()
                    .clone()
                    .expect("a user to sign in");
                let code = format!("code-{}", self.grants.lock().unwrap().len());
                self.grants.lock().unwrap().insert(
                    code.clone(),
                    Grant {
                        user,
                        nonce: q["nonce"].clone(),
                        challenge: q["code_challenge"].clone(),
                    },
                );
                let back = format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
                (302, back.clone(), Some(back))
            }
            ("POST", "/token") => {
                let f = pairs(form);
                let expected =
                    base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"));
                if basic != Some(expected.as_str()) {
                    return (401, json!({"error": "invalid_client"}).to_string(), None);
                }
                let Some(grant) = self.grants.lock().unwrap().remove(&f["code"]) else {
                    return (400, json!({"error": "invalid_grant"}).to_string(), None);
                };
                let challenge =
                    URL_SAFE_NO_PAD.encode(Sha256::digest(f["code_verifier"].as_bytes()));
                if challenge != grant.challenge {
                    return (400, json!({"error": "invalid_grant", "error_description": "PKCE verification failed"}).to_string(), None);
                }
                let token = self.id_token(&grant.user, &grant.nonce, &self.signing);
                (
                    200,
                    json!({"id_token": token, "token_type": "Bearer"}).to_string(),
                    None,
                )
            }
            _ => (404, String::new(), None),
        }
    }
}

/// An EC P-256 key: its signing key and public JWK.
fn key_pair(kid: &str) -> (EncodingKey, Value) {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

/// Starts the issuer on 127.0.0.1; it serves until the test ends.
async fn issuer() -> Arc<Issuer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (signing, jwk) = key_pair("k1");
    let issuer = Arc::new(Issuer {
        base,
        signing,
        jwk,
        next: Mutex::new(None),
        grants: Mutex::new(HashMap::new()),
    });
    let serving = issuer.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let issuer = serving.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let issuer = issuer.clone();
                    async move {
                        let method = request.method().to_string();
                        let path = request.uri().path().to_string();
                        let query = request.uri().query().unwrap_or_default().to_string();
                        let basic = request
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Basic "))
                            .map(str::to_string);
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let (status, text, location) = issuer.answer(
                            &method,
                            &path,
                            &query,
                            &String::from_utf8_lossy(&body),
                            basic.as_deref(),
                        );
                        let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        if let Some(location) = location {
                            response
                                .headers_mut()
                                .insert("location", location.parse().unwrap());
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    issuer
}

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
    *issuer.next.lock().unwrap() = Some(user);
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

const ANA: User = User {
    sub: "u-ana",
    name: "Ana Lima",
    email: "ana@example.com",
    groups: Vec::new(),
};

fn operator(user: User) -> User {
    User {
        groups: vec!["operators"],
        ..user
    }
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
    let viewer = sign_in(&ui, &issuer, ANA).await;
    let grid = ui
        .handle(&with_cookies(Request::get("/dags/etl"), &viewer))
        .await;
    assert_eq!(grid.status, 200);
    assert!(
        grid.body.contains(
            "Ana Lima &lt;ana@example.com&gt; · viewer · <a href=\"/auth/logout\">sign out</a>"
        ),
        "the header says who is signed in: {}",
        grid.body
    );
    assert!(
        grid.body.contains("data-task=\"a\"") && !grid.body.contains("name=\"token\""),
        "{}",
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
    let ops = sign_in(&ui, &issuer, operator(ANA)).await;
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
    let bo = User {
        sub: "u-bo",
        name: "Bo",
        email: "bo@example.com",
        groups: vec!["operators"],
    };
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

    // Signing out removes the session.
    let out = ui
        .handle(&with_cookies(Request::get("/auth/logout"), &ops))
        .await;
    assert_eq!(out.status, 302);
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
    let token = issuer.id_token(&ANA, "n", &issuer.signing);
    let api = |token: &str| {
        Request::get("/api/v1/dags").with_credentials(None, Some(&format!("Bearer {token}")))
    };
    let read = ui.handle(&api(&token)).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(read.body.contains("\"etl\""));
    // Signed by a key the issuer does not publish.
    let (other, _) = key_pair("k1");
    let forged = issuer.id_token(&ANA, "n", &other);
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
