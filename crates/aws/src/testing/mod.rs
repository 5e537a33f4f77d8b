//! For tests (feature `test-util`): a moto server for the test process,
//! started once on 127.0.0.1 from `tests/moto/server.py` (it exits with the
//! test process), and SDK clients pointed at it. Each test makes its own
//! uniquely named resources. A [`Player`] plays SQS, ECS and SageMaker
//! around the functions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod calls;
mod player;
mod write_units;

pub use calls::{ActionRecorder, CallCounter, FailOperation, PolicyLimit, RefuseState};
pub use player::{Ending, Functions, Player, Started, ecs_event, training_event};
pub use write_units::WriteUnits;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

struct Moto {
    port: u16,
    child: Child,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static NAMES: AtomicUsize = AtomicUsize::new(0);

/// The Python that has moto: `UPDRAFT_MOTO_PYTHON` (make test sets it to
/// its virtualenv), else `python3`.
pub fn python() -> String {
    std::env::var("UPDRAFT_MOTO_PYTHON").unwrap_or_else(|_| "python3".into())
}

// The server lives as long as this test process: it exits when its parent
// does, so it is not waited for on success.
#[allow(clippy::zombie_processes)]
fn start() -> Moto {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/moto/server.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} {}: {e} (run the tests with `make test`)",
                python(),
                script.display()
            )
        });
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let port = line.trim().parse::<u16>().ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(port) = port.filter(|_| Instant::now() < deadline) {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ =
                stream.write_all(b"GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut answer = String::new();
            if stream.read_to_string(&mut answer).is_ok() && answer.split(' ').nth(1) == Some("200")
            {
                return Moto { port, child };
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "moto did not start and answer within 30 s (is moto[server] installed? run `make test`): {line:?}"
    );
}

/// A raw request to the test server; returns the response body.
pub fn raw(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    raw_at(MOTO.get_or_init(start).port, method, path, headers, body)
}

fn raw_at(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("moto answers");
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("response read");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// The default VPC's subnets and `default` security group (moto's ids
/// change with every server), read with the EC2 query API.
pub fn default_network() -> (Vec<String>, Vec<String>) {
    default_network_at(MOTO.get_or_init(start).port)
}

fn default_network_at(port: u16) -> (Vec<String>, Vec<String>) {
    let auth = (
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
    );
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let ids = |xml: String, tag: &str| -> Vec<String> {
        xml.split(&format!("<{tag}>"))
            .skip(1)
            .filter_map(|rest| rest.split('<').next().map(str::to_string))
            .collect()
    };
    let subnets = raw_at(
        port,
        "POST",
        "/",
        &[auth, form],
        "Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=default-for-az&Filter.1.Value.1=true",
    );
    let groups = raw_at(
        port,
        "POST",
        "/",
        &[auth, form],
        "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=group-name&Filter.1.Value.1=default",
    );
    let mut subnets = ids(subnets, "subnetId");
    subnets.truncate(2);
    let mut groups = ids(groups, "groupId");
    groups.truncate(1);
    (subnets, groups)
}

/// The test server's address, for `--endpoint-url`.
pub fn endpoint() -> String {
    format!("http://127.0.0.1:{}", MOTO.get_or_init(start).port)
}

/// SDK configuration for the test server.
pub fn sdk() -> SdkConfig {
    sdk_at(MOTO.get_or_init(start).port)
}

fn sdk_at(port: u16) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .http_client(crate::connect::own_http_client())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::for_tests(),
        ))
        .build()
}

/// A moto server of one test's own: moto answers one request at a time, so
/// a test that makes tens of thousands of requests runs beside another of
/// its kind only on a server (and a core) of its own. Stopped when dropped.
pub struct OwnServer(Moto);

impl OwnServer {
    /// Starts a server and waits until it answers.
    pub fn start() -> Self {
        Self(start())
    }

    /// SDK configuration for this server.
    pub fn sdk(&self) -> SdkConfig {
        sdk_at(self.0.port)
    }

    /// This server's default subnets and security group.
    pub fn default_network(&self) -> (Vec<String>, Vec<String>) {
        default_network_at(self.0.port)
    }

    /// An IAM role on this server, by its ARN.
    pub fn iam_role(&self, prefix: &str) -> String {
        iam_role_at(self.0.port, prefix)
    }

    /// A dispatcher function on this server (see [`dispatcher_function`]).
    pub async fn dispatcher_function(&self, caller: &crate::call::Caller) -> String {
        dispatcher_function_at(self.0.port, caller).await
    }

    /// A raw request to this server (its `/moto-api`); the response body.
    pub fn raw(&self, method: &str, path: &str, body: &str) -> String {
        raw_at(self.0.port, method, path, &[], body)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

/// An S3 client for the test server (path-style addressing, as moto needs).
pub fn s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A name no other test of this process uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NAMES.fetch_add(1, Ordering::Relaxed)
    )
}

/// A cluster named `cluster` with the `updraft-runner` Fargate task
/// definition (container `main`), whose tasks stay RUNNING until stopped:
/// moto otherwise moves them on by itself.
pub async fn ecs_runner(client: &aws_sdk_ecs::Client, cluster: &str) {
    use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
    client
        .create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .expect("cluster created");
    // moto needs container-level memory.
    let logs = aws_sdk_ecs::types::LogConfiguration::builder()
        .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
        .options("awslogs-group", "/updraft/runner")
        .options("awslogs-stream-prefix", "updraft")
        .options("awslogs-region", "us-east-1")
        .build()
        .expect("log configuration");
    let container = ContainerDefinition::builder()
        .name("main")
        .image("busybox")
        .memory_reservation(128)
        .essential(true)
        .log_configuration(logs)
        .build();
    client
        .register_task_definition()
        .family("updraft-runner")
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("1024")
        .memory("2048")
        .container_definitions(container)
        .send()
        .await
        .expect("task definition registered");
    raw(
        "POST",
        "/moto-api/state-manager/set-transition",
        &[("Content-Type", "application/json")],
        r#"{"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}"#,
    );
}

/// A rule on `bus` with `pattern` whose target is a fresh queue (both
/// named after `name`), to see which events a pattern takes: moto has no
/// `TestEventPattern`. Returns the queue's URL.
pub async fn rule_into_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    name: &str,
    pattern: &str,
) -> String {
    let url = sqs
        .create_queue()
        .queue_name(unique(name))
        .send()
        .await
        .expect("queue created")
        .queue_url
        .expect("a queue URL");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("the queue's ARN");
    let rule = unique(name);
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(pattern)
        .send()
        .await
        .expect("rule put");
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(arn)
        .build()
        .expect("a target");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .expect("target put");
    url
}

/// Deploys one spec file, `spec.yaml`, to `settings`' deployment through
/// `engine`'s store and `s3` (the shared server's, or a test's own).
pub async fn deploy_spec(
    s3: &aws_sdk_s3::Client,
    settings: &crate::settings::Settings,
    engine: &updraft_engine::Engine,
    spec: &str,
) {
    let file = updraft_core::spec::SpecFile {
        name: "spec.yaml".into(),
        text: spec.into(),
    };
    crate::specs::deploy(s3, &settings.bucket, engine.ports().store.as_ref(), &[file])
        .await
        .expect("spec deployed");
}

/// A fresh deployment on the test server, as the stack makes it: table,
/// task queue and dead-letter queue, bucket, and a cluster with the runner
/// task definition; returns its settings.
pub async fn deployment(clients: &crate::clients::Clients) -> crate::settings::Settings {
    use crate::schema::{create_bucket, create_queues, create_table};
    let name = unique("deployment");
    create_table(&clients.dynamodb, &format!("{name}-state"))
        .await
        .expect("table created");
    let queue_url = create_queues(&clients.sqs, &format!("{name}-tasks"))
        .await
        .expect("queues created");
    create_bucket(&clients.s3, &format!("{name}-specs"))
        .await
        .expect("bucket created");
    ecs_runner(&clients.ecs, &name).await;
    let (subnets, groups) = default_network();
    let vars = std::collections::BTreeMap::from([
        ("UPDRAFT_TABLE", format!("{name}-state")),
        ("UPDRAFT_QUEUE_URL", queue_url),
        ("UPDRAFT_BUCKET", format!("{name}-specs")),
        ("UPDRAFT_CLUSTER", name.clone()),
        ("UPDRAFT_SUBNETS", subnets.join(",")),
        ("UPDRAFT_SECURITY_GROUPS", groups.join(",")),
        // moto's short poll sees every message: no long poll needed.
        ("UPDRAFT_RECEIVE_WAIT", "0".into()),
    ]);
    crate::settings::Settings::from_env(|k| vars.get(k).cloned()).expect("settings")
}

/// `infra/template.yaml` as JSON (intrinsic functions' tags dropped).
pub fn template() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
    updraft_core::yaml::to_json(&text).expect("the template parses")
}

/// Every policy statement of a role or managed policy of
/// `infra/template.yaml`, as JSON (intrinsic functions' tags dropped).
pub fn template_statements(resource: &str) -> Vec<serde_json::Value> {
    use serde_json::Value;
    let template = template();
    let properties = &template["Resources"][resource]["Properties"];
    let documents: Vec<Value> = match properties["Policies"].as_array() {
        Some(policies) => policies
            .iter()
            .map(|p| p["PolicyDocument"].clone())
            .collect(),
        None => vec![properties["PolicyDocument"].clone()],
    };
    // A statement under `!If [CONDITION, STATEMENT, !Ref AWS::NoValue]`
    // reads as that list: its statement is the second item.
    documents
        .iter()
        .flat_map(|d| d["Statement"].as_array().cloned().unwrap_or_default())
        .map(|statement| match statement.as_array() {
            Some(branches) if branches.len() == 3 && branches[1].is_object() => branches[1].clone(),
            _ => statement,
        })
        .collect()
}

/// Every IAM action a role or managed policy of `infra/template.yaml`
/// allows.
pub fn template_actions(resource: &str) -> std::collections::BTreeSet<String> {
    use serde_json::Value;
    let mut actions = std::collections::BTreeSet::new();
    for statement in template_statements(resource) {
        match &statement["Action"] {
            Value::String(a) => {
                actions.insert(a.clone());
            }
            list => actions.extend(
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(String::from)),
            ),
        }
    }
    actions
}

/// A function on the test server standing for the stack's dispatcher,
/// created through `caller`; its name. The server's Lambda answers without
/// Docker, so a ring is a real `Invoke` that runs nothing (and takes one
/// of the canned replies a test may have set: a test that rings shares no
/// server with one that sets them).
pub async fn dispatcher_function(caller: &crate::call::Caller) -> String {
    dispatcher_function_at(MOTO.get_or_init(start).port, caller).await
}

async fn dispatcher_function_at(port: u16, caller: &crate::call::Caller) -> String {
    raw_at(
        port,
        "POST",
        "/moto-api/config",
        &[],
        r#"{"lambda": {"use_docker": false}}"#,
    );
    let name = unique("dispatcher");
    let params = serde_json::json!({
        "FunctionName": name, "Runtime": "provided.al2023", "Handler": "bootstrap",
        "Role": iam_role_at(port, "dispatcher"), "Timeout": 20,
        // An empty zip archive.
        "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
    });
    caller
        .call("lambda", "CreateFunction", &params)
        .await
        .expect("the dispatcher function created");
    name
}

/// An IAM role on the test server, by its ARN (IAM speaks the query
/// protocol, which [`crate::call::Caller`] does not write).
pub fn iam_role(prefix: &str) -> String {
    iam_role_at(MOTO.get_or_init(start).port, prefix)
}

fn iam_role_at(port: u16, prefix: &str) -> String {
    let role = unique(prefix);
    raw_at(
        port,
        "POST",
        "/",
        &[
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            ),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D"
        ),
    );
    format!("arn:aws:iam::123456789012:role/{role}")
}
