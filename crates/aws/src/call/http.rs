//! One HTTPS client for every call: rustls with the system's roots, HTTP/1.1,
//! connections kept for the next call; plain HTTP only to an emulator.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The longest answer read: describe calls answer in kilobytes.
const MAX_RESPONSE: usize = 16 << 20;

/// How long a connection may take to open: the SDK's own default.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Sends signed requests.
#[derive(Clone, Debug)]
pub struct Client {
    hyper: Hyper<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// An answer, read whole.
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Its headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (`name` lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    /// A client; no connection is made until a request.
    pub fn new() -> Result<Client, String> {
        let provider = rustls::crypto::ring::default_provider();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("no TLS root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client {
            hyper: Hyper::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends one request; its answer's body is left to be read.
    pub async fn exchange(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
        self.hyper.request(request.map(Full::new)).await
    }

    /// Sends one request and reads its answer.
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Result<Response, String> {
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let response = self
            .hyper
            .request(request)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
