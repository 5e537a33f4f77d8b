//! A deploy rehearsal: `infra/template.yaml` translated to CloudFormation
//! offline the way `sam deploy` has it translated (`tests/moto/translate.py`
//! over the pinned `samtranslator`, each function's code "packaged" into a
//! bucket first, as `sam package` does), created as a stack on moto's
//! CloudFormation, and what the stack made read back.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use aws_sdk_cloudformation::types::{Capability, Parameter};
use serde_json::{Value, json};
use updraft_aws::testing::{default_network, endpoint, python, sdk, unique};
use updraft_e2e::World;

use crate::stand_in::StandIn;

/// The functions of the template, by logical id.
pub const FUNCTIONS: [&str; 3] = ["PlannerFunction", "DispatcherFunction", "RecorderFunction"];
/// Every function whose code is packaged: the dashboard's too, which a
/// stack makes only with `Dashboard=true`.
pub const PACKAGED: [&str; 4] = [
    "PlannerFunction",
    "DispatcherFunction",
    "RecorderFunction",
    "DashboardFunction",
];

/// A stack created on moto.
pub struct Stack {
    /// Its name.
    pub name: String,
    /// Its id (an ARN).
    pub id: String,
    /// Every parameter value it was created with.
    pub parameters: BTreeMap<String, String>,
    /// The translated template it was created from.
    pub template: Value,
    /// Logical id → physical id, of each resource made (by moto, or by the
    /// rehearsal where moto cannot).
    pub resources: BTreeMap<String, String>,
    /// Output key → value.
    pub outputs: BTreeMap<String, String>,
}

/// What to create: parameters and, for the tests that show the checks
/// fail, a change to the SAM template's text or to the translated template.
pub struct Rehearsal {
    name: String,
    parameters: Vec<(String, String)>,
    edit_sam: Box<dyn Fn(String) -> String>,
    edit_translated: Box<dyn Fn(&mut Value)>,
}

impl Rehearsal {
    /// A stack named after `prefix`, with the default VPC's network.
    pub fn new(prefix: &str) -> Rehearsal {
        let (subnets, groups) = default_network();
        Rehearsal {
            name: unique(prefix),
            parameters: vec![
                ("SubnetIds".into(), subnets.join(",")),
                ("SecurityGroupIds".into(), groups.join(",")),
            ],
            edit_sam: Box::new(|text| text),
            edit_translated: Box::new(|_| {}),
        }
    }

    /// Sets a parameter.
    pub fn parameter(mut self, name: &str, value: &str) -> Rehearsal {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// Changes the SAM template's text before it is translated.
    pub fn edit_sam(mut self, edit: impl Fn(String) -> String + 'static) -> Rehearsal {
        self.edit_sam = Box::new(edit);
        self
    }

    /// Changes the translated template before it is created.
    pub fn edit_translated(mut self, edit: impl Fn(&mut Value) + 'static) -> Rehearsal {
        self.edit_translated = Box::new(edit);
        self
    }

    /// Packages, translates and creates the stack; panics with moto's
    /// answer if it is not created.
    pub async fn create(self) -> Stack {
        let artifacts = unique("sam-artifacts");
        let mut code = serde_json::Map::new();
        for function in PACKAGED {
            let key = format!("{}/{function}.zip", self.name);
            upload_code(&artifacts, &key).await;
            code.insert(function.into(), json!({ "bucket": artifacts, "key": key }));
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sam = std::fs::read_to_string(root.join("infra/template.yaml")).unwrap();
        let edited = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(edited.path(), (self.edit_sam)(sam)).unwrap();
        let parameters: BTreeMap<String, String> = self.parameters.iter().cloned().collect();
        let mut template = translate(&json!({
            "template": edited.path(),
            "code": code,
            "parameters": sam_parameter_values(&parameters),
        }));
        (self.edit_translated)(&mut template);
        create_with_stand_ins(self.name, template, parameters).await
    }
}

/// Creates a translated `template` as the stack `name`, the resources moto's
/// CloudFormation cannot make made beside it as CloudFormation would.
pub async fn create_with_stand_ins(
    name: String,
    mut template: Value,
    parameters: BTreeMap<String, String>,
) -> Stack {
    // The emulator's Lambda runs nothing: a ring of the dispatcher (an
    // asynchronous invoke) is answered at once, as Lambda answers it,
    // rather than after moto tried Docker.
    updraft_aws::testing::raw(
        "POST",
        "/moto-api/config",
        &[],
        r#"{"lambda": {"use_docker": false}}"#,
    );
    let mut stand_in = StandIn::take(&mut template, &name, &parameters);
    stand_in.before(&mut template).await;
    let mut stack = create_stack(name, template, parameters).await;
    let made = stand_in
        .after(
            &stack.template,
            &stack.resources,
            &stack.id,
            &mut stack.outputs,
        )
        .await;
    stack.resources.extend(made);
    stack
}

/// Puts a function's code (an empty zip) where a template says it is,
/// making the bucket if it is new.
pub async fn upload_code(bucket: &str, key: &str) {
    let config = sdk();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    // Already made by an earlier stack of this test process: fine.
    let _ = s3.create_bucket().bucket(bucket).send().await;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(EMPTY_ZIP.to_vec().into())
        .send()
        .await
        .unwrap();
}

/// Creates `template` as the stack `name` with `parameters`; panics with
/// moto's answer if it is not created.
pub async fn create_stack(
    name: String,
    template: Value,
    parameters: BTreeMap<String, String>,
) -> Stack {
    let config = sdk();
    // moto answers a failing CreateStack with a bare 500, which the SDK
    // would retry into "already exists".
    let cloudformation = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build(),
    );
    let mut create = cloudformation
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        // What `make deploy` grants: no CAPABILITY_NAMED_IAM. (moto does
        // not enforce capabilities; the template test checks no resource
        // needs more.)
        .capabilities(Capability::CapabilityIam);
    for (key, value) in &parameters {
        create = create.parameters(
            Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build(),
        );
    }
    if let Err(e) = create.send().await {
        panic!("creating stack {name}: {e:?}");
    }
    let described = cloudformation
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let stack = &described.stacks()[0];
    assert_eq!(
        stack.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE"),
        "{stack:?}"
    );
    let outputs = stack
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap_or_default().to_string(),
                o.output_value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut resources = BTreeMap::new();
    let listed = cloudformation
        .list_stack_resources()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    for resource in listed.stack_resource_summaries() {
        // moto lists the resource types it skips without ids.
        if let (Some(logical), Some(physical)) = (
            resource.logical_resource_id(),
            resource.physical_resource_id(),
        ) {
            resources.insert(logical.to_string(), physical.to_string());
        }
    }
    Stack {
        id: stack.stack_id().unwrap_or_default().to_string(),
        name,
        parameters,
        template,
        resources,
        outputs,
    }
}

/// An empty zip archive (its end-of-central-directory record alone): the
/// functions' code as far as moto's Lambda cares, which runs nothing.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Parameter values as the translator takes them: lists as lists.
fn sam_parameter_values(parameters: &BTreeMap<String, String>) -> Value {
    let lists = ["SubnetIds", "SecurityGroupIds", "WatchedBuckets"];
    parameters
        .iter()
        .map(|(key, value)| {
            let value = if lists.contains(&key.as_str()) {
                json!(value.split(',').collect::<Vec<_>>())
            } else {
                json!(value)
            };
            (key.clone(), value)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The translated template, from `tests/moto/translate.py`.
pub fn translate(request: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("moto/translate.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", python(), script.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "translating the template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

impl Stack {
    /// The physical id of a resource moto made.
    pub fn physical(&self, logical: &str) -> &str {
        self.resources
            .get(logical)
            .unwrap_or_else(|| panic!("stack {} has no {logical}", self.name))
    }

    /// A parameter's value, or its default in the template.
    pub fn parameter(&self, name: &str) -> String {
        self.parameters.get(name).cloned().unwrap_or_else(|| {
            match &self.template["Parameters"][name]["Default"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        })
    }
}

impl Stack {
    /// The deployment as `updraft --stack NAME` reads it from the outputs.
    pub fn settings(&self) -> updraft_aws::settings::Settings {
        updraft_aws::settings::Settings::from_env_or_outputs(|_| None, &self.outputs).unwrap()
    }
}

/// What the emulator's clients need: test credentials, the region, the
/// endpoint (what Lambda gives a function, and the emulator stands for).
pub fn emulator_env() -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", endpoint()),
        // Its short poll sees every message: no long poll needed.
        ("UPDRAFT_RECEIVE_WAIT", "0".to_string()),
    ]
    .map(|(name, value)| (name.to_string(), value))
    .to_vec()
}

impl Stack {
    /// A world whose `updraft` reads this stack (`--backend aws --stack`).
    pub fn world(&self) -> World {
        let world = World::new();
        for (name, value) in emulator_env() {
            world.set_env(&name, &value);
        }
        world.set_env("UPDRAFT_BACKEND", "aws");
        world.set_env("UPDRAFT_STACK", &self.name);
        world
    }
}
