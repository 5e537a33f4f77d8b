//! A small OpenID Connect issuer on 127.0.0.1, for tests of sign-in
//! (feature `test-util`): discovery, an authorize endpoint that signs in
//! whoever the test names next (no form), a token endpoint that checks
//! the client and the PKCE verifier, and its ES256 key. Nothing here is
//! used by the dashboard itself.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::http::form_pairs;

/// Someone the issuer signs in.
#[derive(Clone, Debug)]
pub struct User {
    /// Their subject.
    pub sub: String,
    /// Their name.
    pub name: String,
    /// Their e-mail address.
    pub email: String,
    /// Their groups (`cognito:groups`).
    pub groups: Vec<String>,
}

impl User {
    /// A person in `groups`.
    pub fn new(name: &str, email: &str, groups: &[&str]) -> User {
        User {
            sub: format!("sub-{email}"),
            name: name.to_string(),
            email: email.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// A code handed out: for whom, and the sign-in it belongs to.
struct Grant {
    user: User,
    nonce: String,
    challenge: String,
}

/// The issuer: its address, its client, its key, who signs in next.
pub struct Issuer {
    /// `http://127.0.0.1:PORT`: its identifier and address.
    pub base: String,
    client_id: String,
    client_secret: Option<String>,
    signing: EncodingKey,
    jwk: Value,
    next: Mutex<Option<User>>,
    grants: Mutex<HashMap<String, Grant>>,
    authorized: AtomicUsize,
}

/// An EC P-256 key: its signing key and public JWK named `kid`.
fn key_pair(kid: &str) -> (EncodingKey, Value) {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("a new key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("the new key");
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

impl Issuer {
    /// Starts an issuer for one client on 127.0.0.1; it serves as long as
    /// the runtime it was started on runs.
    pub async fn start(client_id: &str, client_secret: Option<&str>) -> Arc<Issuer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let (signing, jwk) = key_pair("k1");
        let issuer = Arc::new(Issuer {
            base,
            client_id: client_id.to_string(),
            client_secret: client_secret.map(str::to_string),
            signing,
            jwk,
            next: Mutex::new(None),
            grants: Mutex::new(HashMap::new()),
            authorized: AtomicUsize::new(0),
        });
        let serving = issuer.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let issuer = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let issuer = issuer.clone();
                        async move { Ok::<_, Infallible>(issuer.serve(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        issuer
    }

    /// Whom the next sign-in signs in.
    pub fn sign_in_next(&self, user: User) {
        *self.next.lock().expect("the issuer's state") = Some(user);
    }

    /// How many sign-ins it was asked for.
    pub fn authorizations(&self) -> usize {
        self.authorized.load(Ordering::SeqCst)
    }

    /// An ID token for `user`, signed with its key.
    pub fn id_token(&self, user: &User, nonce: &str) -> String {
        self.token_signed(user, nonce, &self.signing)
    }

    /// The same token, signed by another key under the same key id: what
    /// a forger would send.
    pub fn forged_token(&self, user: &User) -> String {
        let (other, _) = key_pair("k1");
        self.token_signed(user, "", &other)
    }

    fn token_signed(&self, user: &User, nonce: &str, key: &EncodingKey) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.base, "aud": self.client_id, "sub": user.sub, "name": user.name,
            "email": user.email, "cognito:groups": user.groups, "nonce": nonce,
            "iat": now, "exp": now + 3600,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        encode(&header, &claims, key).expect("a token")
    }

    async fn serve(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        let basic = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .map(str::to_string);
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let form = String::from_utf8_lossy(&body);
        let (status, text, location) = self.answer(&method, &path, &query, &form, basic.as_deref());
        let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        if let Some(location) = location.and_then(|l| l.parse().ok()) {
            response.headers_mut().insert("location", location);
        }
        response
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
        let field =
            |map: &HashMap<String, String>, name: &str| map.get(name).cloned().unwrap_or_default();
        let refuse = |error: &str, why: &str| {
            (
                400,
                json!({"error": error, "error_description": why}).to_string(),
                None,
            )
        };
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
                if field(&q, "client_id") != self.client_id
                    || field(&q, "code_challenge_method") != "S256"
                {
                    return refuse("invalid_request", "unknown client, or no S256 challenge");
                }
                let Some(user) = self.next.lock().expect("the issuer's state").clone() else {
                    return refuse("access_denied", "the test named no one to sign in");
                };
                self.authorized.fetch_add(1, Ordering::SeqCst);
                let mut grants = self.grants.lock().expect("the issuer's state");
                let code = format!("code-{}", grants.len());
                grants.insert(
                    code.clone(),
                    Grant {
                        user,
                        nonce: field(&q, "nonce"),
                        challenge: field(&q, "code_challenge"),
                    },
                );
                let back = format!(
                    "{}?code={code}&state={}",
                    field(&q, "redirect_uri"),
                    field(&q, "state")
                );
                (302, back.clone(), Some(back))
            }
            ("POST", "/token") => {
                let f = pairs(form);
                let expected = self
                    .client_secret
                    .as_ref()
                    .map(|secret| STANDARD.encode(format!("{}:{secret}", self.client_id)));
                if expected.is_some() && basic.map(str::to_string) != expected {
                    return (401, json!({"error": "invalid_client"}).to_string(), None);
                }
                let Some(grant) = self
                    .grants
                    .lock()
                    .expect("the issuer's state")
                    .remove(&field(&f, "code"))
                else {
                    return refuse("invalid_grant", "unknown or used code");
                };
                let challenge =
                    URL_SAFE_NO_PAD.encode(Sha256::digest(field(&f, "code_verifier").as_bytes()));
                if challenge != grant.challenge {
                    return refuse("invalid_grant", "PKCE verification failed");
                }
                let token = self.id_token(&grant.user, &grant.nonce);
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
