//! How the dashboard signs people in, from its `UPDRAFT_*` variables and
//! the stack's SSM parameters: the issuer and client, the client's secret
//! (a SecureString a team keeps), and the key sessions are signed with
//! (made at the first cold start and kept, so every instance shares it).

use serde_json::json;
use updraft_aws::call::Caller;
use updraft_ui::auth::oidc::Client;
use updraft_ui::auth::{SessionKey, SignIn, SignInConfig};

/// The sign-in `env` describes; an error names what is missing.
pub async fn sign_in(
    caller: &Caller,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SignIn, String> {
    let required = |name: &str, what: &str| {
        env(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{name} is not set: {what}"))
    };
    let issuer = required(
        "UPDRAFT_ISSUER",
        "the OpenID Connect issuer people sign in with",
    )?;
    // The stack's own user pool client names the function's URL, so the
    // function reads its id from a parameter rather than its variables.
    let id = match env("UPDRAFT_CLIENT_ID").filter(|v| !v.is_empty()) {
        Some(id) => id,
        None => {
            let name = required(
                "UPDRAFT_CLIENT_ID_PARAMETER",
                "the dashboard's client id at the issuer (or UPDRAFT_CLIENT_ID)",
            )?;
            parameter(caller, &name)
                .await?
                .ok_or_else(|| format!("the SSM parameter {name} (the client id) does not exist"))?
        }
    };
    // Without a URL of its own, the issuer sends people back to the host
    // they came to: the function URL.
    let url = env("UPDRAFT_DASHBOARD_URL").filter(|v| !v.is_empty());
    let key_name = required(
        "UPDRAFT_SESSION_KEY_PARAMETER",
        "the SSM parameter that keeps the key sessions are signed with",
    )?;
    let secret = match env("UPDRAFT_CLIENT_SECRET_PARAMETER").filter(|v| !v.is_empty()) {
        Some(name) => Some(parameter(caller, &name).await?.ok_or_else(|| {
            format!("the SSM parameter {name} (the client's secret) does not exist")
        })?),
        None => None,
    };
    let key = session_key(caller, &key_name).await?;
    let config = SignInConfig {
        issuer,
        client: Client {
            id,
            secret,
            redirect_uri: url
                .as_deref()
                .map(|u| format!("{}/auth/callback", u.trim_end_matches('/')))
                .unwrap_or_default(),
        },
        groups_claim: env("UPDRAFT_GROUPS_CLAIM").unwrap_or_else(|| "cognito:groups".into()),
        operators_group: env("UPDRAFT_OPERATORS_GROUP").unwrap_or_else(|| "operators".into()),
        secure: url.as_deref().is_none_or(|u| u.starts_with("https://")),
    };
    SignIn::new(config, SessionKey::new(key.as_bytes())?)
}

/// An SSM parameter's value (decrypted), if it exists.
async fn parameter(caller: &Caller, name: &str) -> Result<Option<String>, String> {
    let params = json!({"Name": name, "WithDecryption": true});
    match caller.call("ssm", "GetParameter", &params).await {
        Ok(answer) => Ok(answer["Parameter"]["Value"].as_str().map(str::to_string)),
        Err(e) if e.is_not_found() || e.code.contains("ParameterNotFound") => Ok(None),
        Err(e) => Err(format!("reading the SSM parameter {name}: {e}")),
    }
}

/// The session key kept in `name`: made (512 random bits) by the first
/// instance to start; another starting at the same time keeps the one
/// that was written first.
async fn session_key(caller: &Caller, name: &str) -> Result<String, String> {
    if let Some(key) = parameter(caller, name).await? {
        return Ok(key);
    }
    let made: String = (0..4).map(|_| updraft_ui::html::random_token()).collect();
    let put = json!({"Name": name, "Value": made, "Type": "SecureString", "Overwrite": false});
    match caller.call("ssm", "PutParameter", &put).await {
        Ok(_) => Ok(made),
        Err(e) if e.code.contains("ParameterAlreadyExists") => parameter(caller, name)
            .await?
            .ok_or_else(|| format!("the SSM parameter {name} vanished while it was made")),
        Err(e) => Err(format!(
            "keeping the session key in SSM parameter {name}: {e}"
        )),
    }
}
