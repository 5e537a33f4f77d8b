//! Any action of any AWS service, from its name and JSON parameters, as
//! Step Functions' SDK integrations call them: one signed HTTPS request
//! written by the service's protocol from the models built in
//! ([`models`]), instead of a client crate per service — which would cost
//! minutes of build and megabytes of binary each, and still leave most
//! services out.

pub(crate) mod http;
pub mod models;
mod rest;
mod xml;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{Map, Value, json};

use models::Protocol;

/// An answer other than success, or a request that could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{service} {action}: {code}: {message}")]
pub struct CallError {
    /// The service, as the spec names it.
    pub service: String,
    /// The action.
    pub action: String,
    /// The HTTP status; 0 when no answer came.
    pub status: u16,
    /// The service's error code (`EntityNotFoundException`, `NoSuchKey`).
    pub code: String,
    /// Its message.
    pub message: String,
}

impl CallError {
    /// The thing asked about does not exist (yet): what a wait reads as
    /// "not yet".
    pub fn is_not_found(&self) -> bool {
        self.status == 404
            || [
                "NotFound",
                "NoSuchKey",
                "NoSuchBucket",
                "ResourceNotFound",
                "EntityNotFound",
            ]
            .iter()
            .any(|c| self.code.contains(c))
    }

    /// Worth asking again later: no answer, a 5xx, throttling.
    pub fn is_transient(&self) -> bool {
        self.status == 0
            || self.status >= 500
            || self.status == 429
            || self.code.contains("Throttl")
            || self.code.contains("TooManyRequests")
            || self.code.contains("LimitExceeded") && self.code.contains("Rate")
    }
}

/// Sees each request's service (its signing name, as IAM names it),
/// action and parameters: tests check what a role allows, and what was
/// sent, against what was called.
pub type CallObserver = Arc<dyn Fn(&str, &str, &Map<String, Value>) + Send + Sync>;

/// Fails chosen calls, before they are sent (`false`) or once they took
/// effect (`true`), as a process dying there would: the crash-point tests'
/// switch. Its argument names the call (`glue StartJobRun`).
pub type CallFaults = Arc<dyn Fn(&str, bool) -> Result<(), String> + Send + Sync>;

/// Calls AWS actions with a deployment's credentials and region.
#[derive(Clone)]
pub struct Caller {
    /// Built at the first call: a function or command that calls no other
    /// service never loads the TLS roots for it.
    http: Arc<OnceLock<Result<http::Client, String>>>,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    endpoint: Option<String>,
    observer: Option<CallObserver>,
    faults: Option<CallFaults>,
    sts: aws_sdk_sts::Client,
    assumed: Arc<Mutex<HashMap<String, (Caller, SystemTime)>>>,
    planned: Option<Arc<Mutex<Vec<PlannedCall>>>>,
}

/// A call as it would be made: what `render` and `test` show of a try.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PlannedCall {
    /// The service, as the spec names it.
    pub service: String,
    /// The action.
    pub action: String,
    /// Its parameters.
    pub params: Value,
}

/// How long before its credentials expire an assumed role is assumed again.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// One request before it is signed.
pub(crate) struct Outgoing {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Caller {
    /// A caller with `sdk`'s credentials, region and endpoint (an emulator's,
    /// in tests). Building it makes no request and reads nothing.
    pub fn new(sdk: &SdkConfig) -> Caller {
        Caller {
            http: Arc::default(),
            credentials: sdk.credentials_provider(),
            region: sdk
                .region()
                .map_or_else(|| "us-east-1".to_string(), |r| r.to_string()),
            endpoint: sdk
                .endpoint_url()
                .map(|u| u.trim_end_matches('/').to_string()),
            observer: None,
            faults: None,
            sts: aws_sdk_sts::Client::new(sdk),
            assumed: Arc::default(),
            planned: None,
        }
    }

    /// A caller that sends nothing: each call is checked against the
    /// service's model, kept in the list returned, and answered `{}`.
    pub fn planning(&self) -> (Caller, Arc<Mutex<Vec<PlannedCall>>>) {
        let planned = Arc::new(Mutex::new(Vec::new()));
        let caller = Caller {
            planned: Some(planned.clone()),
            ..self.clone()
        };
        (caller, planned)
    }

    /// A caller whose requests run as `role` (a profile's `role:`),
    /// assumed with this caller's credentials and kept until shortly before
    /// its credentials expire.
    pub async fn assume(&self, role: &str) -> Result<Caller, CallError> {
        let now = SystemTime::now();
        let cached = self.assumed.lock().ok().and_then(|a| a.get(role).cloned());
        if let Some((caller, expires)) = cached
            && expires > now + REFRESH_BEFORE
        {
            return Ok(caller);
        }
        let fail = |message: String| CallError {
            service: "sts".into(),
            action: "AssumeRole".into(),
            status: 403,
            code: "AssumeRoleFailed".into(),
            message,
        };
        let assumed = self
            .sts
            .assume_role()
            .role_arn(role)
            .role_session_name("updraft")
            .send()
            .await
            .map_err(|e| {
                fail(format!(
                    "cannot assume {role}: {}",
                    crate::sdk_error::describe(&e)
                ))
            })?;
        let credentials = assumed
            .credentials()
            .ok_or_else(|| fail(format!("assuming {role} gave no credentials")))?;
        let expires = SystemTime::try_from(*credentials.expiration()).unwrap_or(now);
        let caller = Caller {
            credentials: Some(SharedCredentialsProvider::new(Credentials::new(
                credentials.access_key_id(),
                credentials.secret_access_key(),
                Some(credentials.session_token().to_string()),
                Some(expires),
                "updraft-assumed-role",
            ))),
            assumed: Arc::default(),
            ..self.clone()
        };
        if let Ok(mut cache) = self.assumed.lock() {
            cache.insert(role.to_string(), (caller.clone(), expires));
        }
        Ok(caller)
    }

    /// The same caller, assuming roles with `sts` (a client with the
    /// deployment's interceptors).
    pub fn with_sts(mut self, sts: aws_sdk_sts::Client) -> Caller {
        self.sts = sts;
        self
    }

    /// The region its calls go to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The same caller, failing the calls `faults` chooses.
    pub fn with_faults(mut self, faults: CallFaults) -> Caller {
        self.faults = Some(faults);
        self
    }

    /// The same caller, reporting each request to `observer`.
    pub fn observed(mut self, observer: CallObserver) -> Caller {
        self.observer = Some(observer);
        self
    }

    /// Calls `action` of `service` with `params` (the action's parameters,
    /// as the API reference and Step Functions name them) and returns the
    /// response as JSON.
    pub async fn call(
        &self,
        service: &str,
        action: &str,
        params: &Value,
    ) -> Result<Value, CallError> {
        let fail = |status: u16, code: &str, message: String| CallError {
            service: service.to_string(),
            action: action.to_string(),
            status,
            code: code.to_string(),
            message,
        };
        let model = models::service(service).map_err(|m| fail(400, "UnknownService", m))?;
        let empty = Map::new();
        let params = match params {
            Value::Object(map) => map,
            Value::Null => &empty,
            other => {
                return Err(fail(
                    400,
                    "InvalidParameters",
                    format!("parameters must be a mapping, not {other}"),
                ));
            }
        };
        let (outgoing, operation) = match model.protocol {
            Protocol::Json => (json_request(model, action, params), None),
            Protocol::RestJson | Protocol::RestXml => {
                let op = model.ops.get(action).ok_or_else(|| {
                    fail(
                        400,
                        "UnknownOperation",
                        format!("{service} has no action `{action}`"),
                    )
                })?;
                let request = rest::request(model.protocol, op, params)
                    .map_err(|m| fail(400, "InvalidParameters", m))?;
                (request, Some(op))
            }
            other => {
                return Err(fail(
                    400,
                    "UnsupportedProtocol",
                    format!(
                        "{service} speaks the {other:?} protocol, which `kind: aws` does not write yet"
                    ),
                ));
            }
        };
        if let Some(observer) = &self.observer {
            observer(&model.signing, action, params);
        }
        if let Some(planned) = &self.planned {
            if let Ok(mut planned) = planned.lock() {
                planned.push(PlannedCall {
                    service: service.to_string(),
                    action: action.to_string(),
                    params: Value::Object(params.clone()),
                });
            }
            return Ok(json!({}));
        }
        let host_url = match &self.endpoint {
            Some(url) => url.clone(),
            None => format!("https://{}.{}.amazonaws.com", model.endpoint, self.region),
        };
        let url = format!("{host_url}{}", outgoing.path_and_query);
        let mut request = ::http::Request::builder()
            .method(outgoing.method.as_str())
            .uri(&url);
        for (name, value) in &outgoing.headers {
            request = request.header(name, value);
        }
        let mut request = request.body(outgoing.body).map_err(|e| {
            fail(
                400,
                "InvalidParameters",
                format!("cannot write the request: {e}"),
            )
        })?;
        self.sign(&mut request, &model.signing)
            .await
            .map_err(|m| fail(0, "SigningFailed", m))?;
        let name = format!("{service} {action}");
        if let Some(faults) = &self.faults {
            faults(&name, false).map_err(|m| fail(0, "Injected", m))?;
        }
        let http = self
            .http
            .get_or_init(http::Client::new)
            .as_ref()
            .map_err(|m| fail(0, "RequestFailed", m.clone()))?;
        let response = http
            .send(request)
            .await
            .map_err(|m| fail(0, "RequestFailed", m))?;
        if let Some(faults) = &self.faults {
            faults(&name, true).map_err(|m| fail(0, "Injected", m))?;
        }
        let status = response.status;
        if !(200..300).contains(&status) {
            let (code, message) = error_of(&response);
            return Err(fail(status, &code, message));
        }
        match operation {
            None => parse_json_body(&response.body).map_err(|m| fail(status, "BadResponse", m)),
            Some(op) => rest::response(model.protocol, op, &response)
                .map_err(|m| fail(status, "BadResponse", m)),
        }
    }

    async fn sign(
        &self,
        request: &mut ::http::Request<Vec<u8>>,
        signing: &str,
    ) -> Result<(), String> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or("no AWS credentials are configured")?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {e}"))?;
        let identity = Identity::from(credentials);
        let mut settings = SigningSettings::default();
        if signing == "s3" {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(signing)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("cannot sign: {e}"))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers,
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| format!("cannot sign: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("cannot sign: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

fn json_request(model: &models::Service, action: &str, params: &Map<String, Value>) -> Outgoing {
    Outgoing {
        method: "POST".into(),
        path_and_query: "/".into(),
        headers: vec![
            (
                "content-type".into(),
                format!(
                    "application/x-amz-json-{}",
                    model.json.as_deref().unwrap_or("1.0")
                ),
            ),
            (
                "x-amz-target".into(),
                format!("{}.{action}", model.target.as_deref().unwrap_or_default()),
            ),
        ],
        body: serde_json::to_vec(params).unwrap_or_default(),
    }
}

/// A JSON body; an empty one is `{}`.
fn parse_json_body(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| format!("the response is not JSON: {e}"))
}

/// The code and message of an error answer, whatever the protocol: a JSON
/// body's `__type`/`code` and `message`, `x-amzn-ErrorType`, or an XML
/// body's `<Code>` and `<Message>`.
fn error_of(response: &http::Response) -> (String, String) {
    let header = response
        .header("x-amzn-errortype")
        .map(|t| t.split(':').next().unwrap_or(t).to_string());
    let text = String::from_utf8_lossy(&response.body);
    if let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&text) {
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| body.get(*n).and_then(Value::as_str))
                .map(str::to_string)
        };
        let code = field(&["__type", "code", "Code"])
            .map(|c| c.rsplit('#').next().unwrap_or(&c).to_string())
            .or(header)
            .unwrap_or_else(|| format!("HTTP{}", response.status));
        let message = field(&["message", "Message", "errorMessage"]).unwrap_or_default();
        return (code, message);
    }
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_string())
    };
    let code = tag("Code")
        .or(header)
        .unwrap_or_else(|| match response.status {
            404 => "NotFound".into(),
            status => format!("HTTP{status}"),
        });
    (code, tag("Message").unwrap_or_default())
}
