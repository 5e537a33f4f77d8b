//! Sign-in for a dashboard the whole team reaches (hosted on AWS): OpenID
//! Connect against the team's issuer (a Cognito user pool, Okta, Entra ID,
//! ...), sessions in a signed cookie, viewers and operators by a group
//! claim, and action tokens derived from the session so any instance
//! accepts a form another made.
//!
//! Routes: `/auth/login` (to the issuer, with PKCE), `/auth/callback` (back
//! from it), `/auth/logout` (a POST from every page's header, with the
//! session's token). Every other page needs a session; the JSON API
//! also takes a bearer token from the same issuer, for scripts.

mod fetch;
pub mod oidc;
pub mod session;

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

use crate::html::random_token;
use crate::{Request, Response};
pub use fetch::Fetch;
pub use session::{Person, Role, SessionKey};

/// The cookie that keeps a sign-in's state while the issuer asks who the
/// person is.
const LOGIN_COOKIE: &str = "updraft_login";
/// How long a person has to sign in at the issuer.
const LOGIN_SECONDS: i64 = 600;
/// The least time between two reads of the issuer's keys (a token naming
/// an unknown key makes one).
const KEYS_REFRESH: Duration = Duration::from_secs(60);

/// How the dashboard signs people in.
#[derive(Clone, Debug)]
pub struct SignInConfig {
    /// The issuer's URL (`https://cognito-idp.REGION.amazonaws.com/POOL`).
    pub issuer: String,
    /// The dashboard at the issuer: its client id, secret and callback
    /// (an empty `redirect_uri`: `https://` the request's host
    /// `/auth/callback`, as behind a function URL).
    pub client: oidc::Client,
    /// The claim listing a person's groups (`cognito:groups`).
    pub groups_claim: String,
    /// The group whose members are operators; everyone else views.
    pub operators_group: String,
    /// Whether pages are served over HTTPS (cookies are then `Secure`).
    pub secure: bool,
}

/// What the login cookie keeps: the sign-in's state, its PKCE verifier and
/// nonce, and the page to come back to.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    verifier: String,
    nonce: String,
    next: String,
}

/// Signs people in: the configuration, the session key and what the
/// issuer said (fetched once, its keys again when a token names a new one).
pub struct SignIn {
    config: SignInConfig,
    key: SessionKey,
    fetch: Fetch,
    provider: OnceCell<oidc::Provider>,
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

impl SignIn {
    /// Sign-in with `config`, sessions signed with `key`.
    pub fn new(config: SignInConfig, key: SessionKey) -> Result<SignIn, String> {
        Ok(SignIn {
            config,
            key,
            fetch: Fetch::new()?,
            provider: OnceCell::new(),
            keys: Mutex::new(None),
        })
    }

    /// The session key: what action tokens derive from.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    /// The client as this request reaches the dashboard: its callback
    /// under the host the request was sent to, unless configured.
    fn client_for(&self, request: &Request) -> Result<oidc::Client, String> {
        let mut client = self.config.client.clone();
        if client.redirect_uri.is_empty() {
            let host = request.host.as_deref().ok_or("the request names no host")?;
            client.redirect_uri = format!("https://{host}/auth/callback");
        }
        Ok(client)
    }

    async fn provider(&self) -> Result<&oidc::Provider, String> {
        self.provider
            .get_or_try_init(|| oidc::discover(&self.fetch, &self.config.issuer))
            .await
    }

    /// The issuer's keys, read again when `kid` is not among them (and
    /// the last read is a minute old).
    async fn keys_for(&self, kid: Option<&str>) -> Result<JwkSet, String> {
        let provider = self.provider().await?;
        let mut cached = self.keys.lock().await;
        let stale = match (&*cached, kid) {
            (None, _) => true,
            (Some((set, at)), Some(kid)) => set.find(kid).is_none() && at.elapsed() >= KEYS_REFRESH,
            (Some(_), None) => false,
        };
        if stale {
            *cached = Some((oidc::keys(&self.fetch, provider).await?, Instant::now()));
        }
        Ok(cached
            .as_ref()
            .map(|(set, _)| set.clone())
            .unwrap_or(JwkSet { keys: Vec::new() }))
    }

    /// Checks a token of the issuer and makes its person.
    async fn person_of(
        &self,
        token: &str,
        nonce: Option<&str>,
        session: String,
    ) -> Result<Person, String> {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let keys = self.keys_for(kid.as_deref()).await?;
        let provider = self.provider().await?;
        let claims = oidc::verify(
            token,
            &keys,
            &provider.issuer,
            &self.config.client.id,
            nonce,
        )?;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let groups: Vec<String> = match claims.get(&self.config.groups_claim) {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(one)) => one
                .split([',', ' '])
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let name = match text("name") {
            name if name.is_empty() => text("cognito:username"),
            name => name,
        };
        Ok(Person {
            sub: text("sub"),
            name,
            email: text("email"),
            role: Role::of(&groups, &self.config.operators_group),
            session,
            expires: now() + session::SESSION_SECONDS,
        })
    }

    /// Who a request comes from: its session cookie, or (for the JSON
    /// API) a bearer token of the issuer.
    pub async fn person(&self, request: &Request) -> Option<Person> {
        if let Some(person) = request
            .cookie(session::SESSION_COOKIE)
            .and_then(|value| self.key.open(value, now()))
        {
            return Some(person);
        }
        let is_api = request.segments.first().is_some_and(|s| s == "api");
        match (&request.bearer, is_api) {
            (Some(token), true) => self.person_of(token, None, String::new()).await.ok(),
            _ => None,
        }
    }

    /// The answer to a request with no session: a page sends the browser
    /// to sign in and come back; the API and actions are refused.
    pub fn refuse(&self, request: &Request) -> Response {
        let is_api = request.segments.first().is_some_and(|s| s == "api");
        if request.method == "GET" && !is_api {
            return Response::found(&format!(
                "/auth/login?next={}",
                crate::http::encode(&request.target())
            ));
        }
        Response::text(
            401,
            "sign in first: this dashboard answers only people signed in with its issuer",
        )
    }

    /// `/auth/login`, `/auth/callback` and `/auth/logout` (a POST).
    pub async fn route(&self, request: &Request) -> Response {
        let answer = match request.segments.get(1).map(String::as_str) {
            Some("login") => self.login(request).await,
            Some("callback") => self.callback(request).await,
            Some("logout") => self.sign_out(request).await,
            _ => Err(format!("no page at {}", request.path)),
        };
        answer.unwrap_or_else(|why| Response::text(400, &why))
    }

    async fn login(&self, request: &Request) -> Result<Response, String> {
        let provider = self.provider().await?;
        let next = request
            .param("next")
            .filter(|n| n.starts_with('/') && !n.starts_with("//"))
            .unwrap_or("/")
            .to_string();
        let (verifier, challenge) = oidc::pkce(format!("{}{}", random_token(), random_token()));
        let pending = Pending {
            state: random_token(),
            verifier,
            nonce: random_token(),
            next,
        };
        let client = self.client_for(request)?;
        let url = oidc::authorize_url(
            provider,
            &client,
            &pending.state,
            &pending.nonce,
            &challenge,
        );
        let kept = serde_json::to_string(&pending).map_err(|e| e.to_string())?;
        let cookie = self
            .key
            .seal_value(LOGIN_COOKIE, &kept, LOGIN_SECONDS, self.config.secure);
        Ok(Response::found(&url).setting(vec![cookie]))
    }

    async fn callback(&self, request: &Request) -> Result<Response, String> {
        if let Some(error) = request.param("error") {
            let why = request.param("error_description").unwrap_or(error);
            return Err(format!("the issuer did not sign you in: {why}"));
        }
        let pending: Pending = request
            .cookie(LOGIN_COOKIE)
            .and_then(|value| self.key.open_value(LOGIN_COOKIE, value))
            .and_then(|text| serde_json::from_str(&text).ok())
            .ok_or(
                "this sign-in was not started here, or took longer than 10 minutes; sign in again",
            )?;
        if request.param("state") != Some(pending.state.as_str()) {
            return Err(
                "this sign-in's state does not match the one started here; sign in again".into(),
            );
        }
        let code = request.param("code").ok_or("the issuer sent no code")?;
        let provider = self.provider().await?;
        let client = self.client_for(request)?;
        let token = oidc::exchange(&self.fetch, provider, &client, code, &pending.verifier).await?;
        let person = self
            .person_of(&token, Some(&pending.nonce), random_token())
            .await?;
        let cookies = vec![
            self.key.seal(&person, self.config.secure),
            session::removal(LOGIN_COOKIE),
        ];
        Ok(Response::found(&pending.next).setting(cookies))
    }

    /// Signing out is a POST from the header's button, with the session's
    /// action token: a page of another site cannot sign a person out.
    async fn sign_out(&self, request: &Request) -> Result<Response, String> {
        if request.method != "POST" {
            return Ok(Response::text(
                405,
                "sign out with the button in a page's header",
            ));
        }
        if request.cross_origin {
            return Ok(Response::text(
                403,
                "this sign-out came from a page of another site (its Origin is not this dashboard's)",
            ));
        }
        let sent = request.field("token").unwrap_or_default();
        if let Some(person) = self.person(request).await
            && !crate::constant_time_eq(
                sent.as_bytes(),
                self.key.action_token(&person.session).as_bytes(),
            )
        {
            return Ok(Response::text(
                403,
                "this sign-out did not come from a page of this dashboard (its token is missing or stale); reload the page",
            ));
        }
        Ok(self.logout().await)
    }

    /// A page that says so, not a redirect: a form's answer may not send
    /// the browser to another site (the pages' `form-action 'self'`), so
    /// the issuer's own sign-out is a link.
    async fn logout(&self) -> Response {
        let issuer = self
            .provider()
            .await
            .ok()
            .and_then(|p| p.end_session_endpoint.clone())
            .map(|end| {
                let url = format!(
                    "{end}?client_id={}",
                    crate::http::encode(&self.config.client.id)
                );
                format!(
                    " <a href=\"{}\">Sign out of the issuer too</a>.",
                    crate::html::escape(&url)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<h1>Signed out</h1><p>You are signed out of this dashboard.{issuer} \
             <a href=\"/auth/login\">Sign in again</a>.</p>"
        );
        Response::html(crate::html::page("signed out", &body, false))
            .setting(vec![session::removal(session::SESSION_COOKIE)])
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
