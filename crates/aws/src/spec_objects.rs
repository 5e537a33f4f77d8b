//! Every spec version's source is kept in the bucket under
//! `spec-versions/`, where only deployers and the planner may write — not
//! in the table, which an operator may write. A version's item records
//! that it exists and when it was first seen; what runs is read from here.
//! The object is named by the version, a hash of the spec, so writing it
//! twice writes the same bytes, and it is written before the item that
//! records it: a process dying in between leaves an object nothing lists
//! yet, never an item whose source is nowhere.

use aws_sdk_s3::Client;
use updraft_engine::ports::{PortError, PortResult};

use crate::sdk_error::fail;

/// The prefix of spec versions kept in S3.
pub const PREFIX: &str = "spec-versions/";

/// Where spec versions' sources are kept.
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

    /// A kept version's source; `None` if no deploy kept it.
    pub async fn get(&self, dag: &str, version: &str) -> PortResult<Option<String>> {
        let answer = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(object_key(dag, version))
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(fail("S3 GetObject")(e)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| PortError::new("reading a spec version from S3", e))?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| PortError::new("a spec version in S3 is not UTF-8", e))
    }
}
