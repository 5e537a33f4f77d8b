//! SDK configuration: the standard credential and region chain, with an
//! optional endpoint for AWS-compatible servers, and the HTTP client the
//! SDK's clients send through.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use bytes::Bytes;
use http_body_util::BodyExt;

use crate::call::http::Client as HttpsClient;

/// Where to reach AWS.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    /// Another endpoint (moto, LocalStack); `AWS_ENDPOINT_URL` is honoured
    /// by the SDK's own chain when this is `None`.
    pub url: Option<String>,
    /// The region, if not from the environment or profile.
    pub region: Option<String>,
    /// A named profile.
    pub profile: Option<String>,
}

/// Loads the SDK configuration once; clients are built from it.
pub async fn load(endpoint: &Endpoint) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(url) = &endpoint.url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &endpoint.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &endpoint.profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// The HTTP client every SDK client sends through: the in-house caller's
/// HTTP/1.1 client (rustls, the system's roots), with a connection pool of
/// its own, so no function carries a second HTTP stack (the SDK's own
/// brings HTTP/2 and a TLS setup of its own).
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT.get_or_init(own_http_client).clone()
}

/// [`http_client`] with a connection pool of its own, for a process that
/// runs one tokio runtime after another (a test suite): a pooled
/// connection lives on the runtime that opened it, and one reused after
/// that runtime ended fails ("dispatch task is gone").
pub fn own_http_client() -> SharedHttpClient {
    SharedHttpClient::new(SdkHttp::default())
}

/// Hands out a connector per read timeout the SDK asks for.
#[derive(Debug, Default)]
struct SdkHttp {
    connection: Arc<OnceLock<Result<HttpsClient, String>>>,
    connectors: Mutex<Vec<(Option<Duration>, SharedHttpConnector)>>,
}

impl HttpClient for SdkHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let read_timeout = settings.read_timeout();
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(t, _)| *t == read_timeout) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(SdkConnector {
            connection: self.connection.clone(),
            read_timeout,
        });
        connectors.push((read_timeout, connector.clone()));
        connector
    }
}

#[derive(Debug)]
struct SdkConnector {
    connection: Arc<OnceLock<Result<HttpsClient, String>>>,
    read_timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self
            .connection
            .get_or_init(HttpsClient::new)
            .clone()
            .map_err(|why| ConnectorError::other(why.into(), None));
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            // Every body updraft sends is in memory; a streamed one is read
            // first.
            let body = match body.bytes() {
                Some(bytes) => Bytes::copy_from_slice(bytes),
                None => body
                    .collect()
                    .await
                    .map_err(ConnectorError::user)?
                    .to_bytes(),
            };
            let client = client?;
            let exchange = client.exchange(::http::Request::from_parts(parts, body));
            let response = match read_timeout {
                None => exchange.await,
                Some(limit) => tokio::time::timeout(limit, exchange)
                    .await
                    .map_err(|e| ConnectorError::timeout(e.into()))?,
            }
            .map_err(|e| match e.is_connect() {
                true => ConnectorError::io(e.into()),
                false => ConnectorError::other(e.into(), Some(ErrorKind::TransientError)),
            })?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}
