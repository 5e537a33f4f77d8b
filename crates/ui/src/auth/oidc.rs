//! OpenID Connect, the authorization-code flow with PKCE: where to send a
//! person to sign in, the exchange of the code the issuer sends back, and
//! the check of the ID token (or a script's bearer token) against the
//! issuer's published keys.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::fetch::Fetch;
use crate::http::encode;

/// What the issuer's discovery document says of it.
#[derive(Clone, Debug, Deserialize)]
pub struct Provider {
    /// Its identifier, as tokens name it.
    pub issuer: String,
    /// Where a person signs in.
    pub authorization_endpoint: String,
    /// Where a code is exchanged for tokens.
    pub token_endpoint: String,
    /// Its signing keys.
    pub jwks_uri: String,
    /// Where a person signs out of the issuer too, if it says.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// Reads `{issuer}/.well-known/openid-configuration`.
pub async fn discover(fetch: &Fetch, issuer: &str) -> Result<Provider, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let (status, body) = fetch.get(&url).await?;
    if status != 200 {
        return Err(format!("{url} answered {status}"));
    }
    let provider: Provider = serde_json::from_slice(&body)
        .map_err(|e| format!("{url}: not a discovery document: {e}"))?;
    if provider.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(format!(
            "{url} names the issuer `{}`, not `{issuer}`",
            provider.issuer
        ));
    }
    Ok(provider)
}

/// Reads the issuer's keys.
pub async fn keys(fetch: &Fetch, provider: &Provider) -> Result<JwkSet, String> {
    let (status, body) = fetch.get(&provider.jwks_uri).await?;
    if status != 200 {
        return Err(format!("{} answered {status}", provider.jwks_uri));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{}: not a key set: {e}", provider.jwks_uri))
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce(verifier: String) -> (String, String) {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// This dashboard at the issuer.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its client id.
    pub id: String,
    /// Its secret, for a confidential client.
    pub secret: Option<String>,
    /// Where the issuer sends the person back (`…/auth/callback`).
    pub redirect_uri: String,
}

/// Where to send a person to sign in.
pub fn authorize_url(
    provider: &Provider,
    client: &Client,
    state: &str,
    nonce: &str,
    challenge: &str,
) -> String {
    let pairs = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid email profile"),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let joint = if provider.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    format!(
        "{}{joint}{}",
        provider.authorization_endpoint,
        query.join("&")
    )
}

/// Exchanges the code the issuer sent back for the ID token.
pub async fn exchange(
    fetch: &Fetch,
    provider: &Provider,
    client: &Client,
    code: &str,
    verifier: &str,
) -> Result<String, String> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("client_id", client.id.as_str()),
        ("code_verifier", verifier),
    ];
    // A confidential client says who it is with HTTP basic credentials
    // (each part form-encoded first, as OAuth 2.0 asks).
    let basic = client
        .secret
        .as_ref()
        .map(|secret| STANDARD.encode(format!("{}:{}", encode(&client.id), encode(secret))));
    let (status, body) = fetch
        .post_form(&provider.token_endpoint, &form, basic)
        .await?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        let why = answer["error_description"]
            .as_str()
            .or(answer["error"].as_str())
            .unwrap_or("no reason given");
        return Err(format!("the issuer refused the sign-in ({status}): {why}"));
    }
    answer["id_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "the issuer's answer has no id_token".to_string())
}

/// Checks a token the issuer signed — its signature against `keys`, its
/// issuer, that it is for `client_id` (its `aud`, or for an access token
/// its `client_id`), that it has not expired, and its `nonce` if one is
/// expected — and gives its claims.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: Option<&str>,
) -> Result<Map<String, Value>, String> {
    let header = decode_header(token).map_err(|e| format!("not a token: {e}"))?;
    let kid = header.kid.as_deref().ok_or("the token names no key")?;
    let jwk = keys.find(kid).ok_or_else(|| {
        format!("the token is signed with a key the issuer does not publish ({kid})")
    })?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("the issuer's key {kid}: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims = decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| format!("the token does not hold: {e}"))?
        .claims;
    let audience = match &claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a == client_id),
        _ => claims.get("client_id").and_then(Value::as_str) == Some(client_id),
    };
    if !audience {
        return Err("the token is for another client".into());
    }
    if let Some(expected) = nonce
        && claims.get("nonce").and_then(Value::as_str) != Some(expected)
    {
        return Err("the token's nonce is not this sign-in's".into());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_verifiers_sha256_in_base64url() {
        // RFC 7636, appendix B.
        let (_, challenge) = pkce("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn the_sign_in_url_carries_the_client_the_state_and_the_challenge() {
        let provider = Provider {
            issuer: "https://id.example".into(),
            authorization_endpoint: "https://id.example/authorize".into(),
            token_endpoint: String::new(),
            jwks_uri: String::new(),
            end_session_endpoint: None,
        };
        let client = Client {
            id: "dash".into(),
            secret: None,
            redirect_uri: "https://dash.example/auth/callback".into(),
        };
        let url = authorize_url(&provider, &client, "st", "no", "ch");
        assert_eq!(
            url,
            "https://id.example/authorize?response_type=code&client_id=dash&redirect_uri=https%3A%2F%2Fdash.example%2Fauth%2Fcallback&scope=openid%20email%20profile&state=st&nonce=no&code_challenge=ch&code_challenge_method=S256"
        );
    }
}
