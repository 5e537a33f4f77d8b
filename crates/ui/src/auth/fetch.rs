//! The few requests sign-in makes of the issuer (its discovery document,
//! its keys, the code exchange): HTTPS with the system's roots, or plain
//! HTTP to an issuer on this machine (a test's).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The largest answer read: an issuer's documents are kilobytes.
const MAX_ANSWER: usize = 1 << 20;
/// How long an issuer may take to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks the issuer.
#[derive(Clone)]
pub struct Fetch {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Fetch {
    /// A client; no connection is made until a request.
    pub fn new() -> Result<Fetch, String> {
        let provider = rustls::crypto::ring::default_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("no TLS root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Fetch {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// `GET url`: its status and body.
    pub async fn get(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        let request = hyper::Request::get(url)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        self.send(url, request).await
    }

    /// `POST url` of a form, with HTTP basic credentials if given.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<String>,
    ) -> Result<(u16, Vec<u8>), String> {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", crate::http::encode(k), crate::http::encode(v)))
            .collect();
        let mut request = hyper::Request::post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        if let Some(basic) = basic {
            request = request.header("authorization", format!("Basic {basic}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.join("&"))))
            .map_err(|e| format!("{url}: {e}"))?;
        self.send(url, request).await
    }

    async fn send(
        &self,
        url: &str,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Vec<u8>), String> {
        let asked = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("{url}: reading the answer: {e}"))?
                .to_bytes();
            Ok((status, body.to_vec()))
        };
        tokio::time::timeout(TIMEOUT, asked)
            .await
            .map_err(|_| format!("{url}: no answer within {}s", TIMEOUT.as_secs()))?
    }
}
