//! What a call needs to know of a service without a client for it: its
//! protocol, signing name and endpoint prefix, and, for REST protocols,
//! where each operation puts its parameters. Generated from the AWS SDKs'
//! service models by `scripts/aws-models.py` into `models.json`, deflated
//! by the build script and read once.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// How a service's requests are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    /// `POST /` with `X-Amz-Target` and a JSON body (Glue, Athena, Step
    /// Functions, SageMaker, DynamoDB, ...).
    #[serde(rename = "json")]
    Json,
    /// A method and path per operation, JSON bodies (Lambda, Batch, EMR
    /// Serverless, ...).
    #[serde(rename = "rest-json")]
    RestJson,
    /// A method and path per operation, XML bodies (S3, ...).
    #[serde(rename = "rest-xml")]
    RestXml,
    /// Form-encoded `Action=` requests (SNS, IAM, CloudFormation, ...).
    #[serde(rename = "query")]
    Query,
    /// EC2's variant of the query protocol.
    #[serde(rename = "ec2")]
    Ec2,
    /// CBOR bodies (a few newer services).
    #[serde(rename = "smithy-rpc-v2-cbor")]
    Cbor,
}

/// One service.
#[derive(Clone, Debug, Deserialize)]
pub struct Service {
    /// How its requests are written.
    pub protocol: Protocol,
    /// The name requests are signed for.
    pub signing: String,
    /// The first label of its endpoint's host.
    pub endpoint: String,
    /// `X-Amz-Target`'s prefix (JSON protocol).
    #[serde(default)]
    pub target: Option<String>,
    /// The JSON protocol's version, `1.0` or `1.1`.
    #[serde(default)]
    pub json: Option<String>,
    /// Its operations (REST protocols).
    #[serde(default)]
    pub ops: BTreeMap<String, Operation>,
}

/// Where a member goes: `["uri" | "querystring" | "header" | "headers" |
/// "statusCode", wire name]`.
pub type Location = (String, String);

/// One operation of a REST service.
#[derive(Clone, Debug, Deserialize)]
pub struct Operation {
    /// The HTTP method.
    pub method: String,
    /// The path template, e.g. `/2015-03-31/functions/{FunctionName}/invocations`.
    pub uri: String,
    /// Input members not in the body.
    #[serde(default, rename = "in")]
    pub inputs: BTreeMap<String, Location>,
    /// The input member that is the whole body, if one is.
    #[serde(default)]
    pub payload: Option<String>,
    /// Output members not in the body.
    #[serde(default, rename = "out")]
    pub outputs: BTreeMap<String, Location>,
    /// The output member that is the whole body, if one is.
    #[serde(default)]
    pub out_payload: Option<String>,
}

#[derive(Deserialize)]
struct Models {
    services: BTreeMap<String, Service>,
}

static MODELS: OnceLock<Option<Models>> = OnceLock::new();

fn models() -> Option<&'static Models> {
    MODELS
        .get_or_init(|| {
            let deflated = include_bytes!(concat!(env!("OUT_DIR"), "/models.json.deflate"));
            let text = miniz_oxide::inflate::decompress_to_vec(deflated).ok()?;
            serde_json::from_slice(&text).ok()
        })
        .as_ref()
}

/// Names as Step Functions' SDK integrations write them (`sfn`,
/// `emrserverless`), for the models' own.
const ALIASES: &[(&str, &str)] = &[
    ("sfn", "stepfunctions"),
    ("states", "stepfunctions"),
    ("cloudwatchlogs", "logs"),
    ("eventbridge", "events"),
];

/// The service a spec names: its models' name (`emr-serverless`), without
/// dashes (`emrserverless`, as Step Functions writes it), or an alias.
pub fn service(name: &str) -> Result<&'static Service, String> {
    let models = models().ok_or("the AWS service models built into updraft do not parse")?;
    let lower = name.to_ascii_lowercase();
    let wanted = ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map_or(lower.as_str(), |(_, real)| *real);
    let squash = |s: &str| s.replace('-', "");
    models
        .services
        .get(wanted)
        .or_else(|| {
            models
                .services
                .iter()
                .find(|(n, _)| squash(n) == squash(wanted))
                .map(|(_, s)| s)
        })
        .ok_or_else(|| format!("no AWS service `{name}` (write it as the AWS CLI does: glue, s3, stepfunctions, emr-serverless)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_found_by_any_usual_name() {
        assert_eq!(service("glue").unwrap().target.as_deref(), Some("AWSGlue"));
        assert_eq!(service("sfn").unwrap().signing, "states");
        assert_eq!(
            service("emrserverless").unwrap().protocol,
            Protocol::RestJson
        );
        assert_eq!(service("athena").unwrap().protocol, Protocol::Json);
        let invoke = &service("lambda").unwrap().ops["Invoke"];
        assert_eq!(
            invoke.uri,
            "/2015-03-31/functions/{FunctionName}/invocations"
        );
        assert_eq!(invoke.payload.as_deref(), Some("Payload"));
        assert!(
            service("nosuch")
                .unwrap_err()
                .contains("no AWS service `nosuch`")
        );
    }
}
