//! SDK configuration: the standard credential and region chain, with an
//! optional endpoint for AWS-compatible servers.

use aws_config::{BehaviorVersion, Region, SdkConfig};

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
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
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
