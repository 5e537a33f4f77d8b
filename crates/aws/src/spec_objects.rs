//! Spec versions too large for a DynamoDB item (400 KB with its keys) are
//! kept in the bucket under `spec-versions/`, and their item points there.
//! The object is named by the version, a hash of the spec, so writing it
//! twice writes the same bytes, and it is written before the item that
//! points to it: a process dying in between leaves an object nothing reads
//! yet, never an item pointing nowhere.

use aws_sdk_s3::Client;
use updraft_engine::ports::{PortError, PortResult};

use crate::sdk_error::fail;

/// Sources longer than this are kept in S3 rather than in their item.
pub const INLINE_LIMIT: usize = 350 * 1024;

/// The prefix of spec versions kept in S3.
pub const PREFIX: &str = "spec-versions/";

/// Where spec versions too large for their item go.
#[derive(Clone, Debug)]
pub struct SpecObjects {
    s3: Client,
    bucket: String,
}

/// The key of a spec version kept in S3.
pub fn object_key(dag: &str, version: &str) -> String {
    format!("{PREFIX}{dag}/{version}.yaml")
}

impl SpecObjects {
    /// Spec versions in `bucket`.
    pub fn new(s3: Client, bucket: impl Into<String>) -> SpecObjects {
        SpecObjects {
            s3,
            bucket: bucket.into(),
        }
    }

    /// Keeps a version's source; returns its key.
    pub async fn put(&self, dag: &str, version: &str, source: &str) -> PortResult<String> {
        let key = object_key(dag, version);
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/yaml")
            .body(source.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(fail("S3 PutObject"))?;
        Ok(key)
    }

    /// A kept version's source.
    pub async fn get(&self, key: &str) -> PortResult<String> {
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(
                |e| match e.as_service_error().is_some_and(|e| e.is_no_such_key()) {
                    true => PortError::msg(format!(
                        "spec version s3://{}/{key} is missing from the bucket",
                        self.bucket
                    )),
                    false => fail("S3 GetObject")(e),
                },
            )?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| PortError::new("reading a spec version from S3", e))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| PortError::new("a spec version in S3 is not UTF-8", e))
    }
}
