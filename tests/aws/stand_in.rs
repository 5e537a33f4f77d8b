//! CloudFormation's part for the resource types moto's CloudFormation
//! cannot create (a function URL; a Cognito user pool, its group, domain
//! and client; the planner's wake-up schedule). The rehearsal takes them out of the template, makes each
//! with the AWS API from its template properties in the order
//! CloudFormation would — those that need nothing of the stack before it,
//! the rest after — and puts what each resolves to wherever the template
//! refers to it. A reference that can only be resolved once the stack
//! exists is created as a placeholder and set afterwards, as CloudFormation
//! would have set it in the first place (a function's environment, a
//! parameter's value, an output).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use updraft_aws::call::Caller;
use updraft_aws::testing::sdk;

/// The account and region moto answers as.
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// Resources taken out of a template, made when their references resolve.
pub struct StandIn {
    stack: String,
    parameters: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
    pending: BTreeMap<String, Value>,
    /// Logical id → attribute ("" for `Ref`) → value, of each one made.
    made: BTreeMap<String, BTreeMap<String, String>>,
    caller: Caller,
}

/// Why a value cannot be resolved yet.
#[derive(Debug)]
struct Unresolved(String);

impl StandIn {
    /// Takes every resource moto cannot create out of `template`.
    pub fn take(template: &mut Value, stack: &str, given: &BTreeMap<String, String>) -> StandIn {
        let mut parameters = BTreeMap::new();
        if let Some(declared) = template["Parameters"].as_object() {
            for (name, declaration) in declared {
                let value =
                    given
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| match &declaration["Default"] {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        });
                let kind = declaration["Type"].as_str().unwrap_or_default();
                let value = if kind.starts_with("List<") || kind == "CommaDelimitedList" {
                    json!(
                        value
                            .split(',')
                            .filter(|v| !v.is_empty())
                            .collect::<Vec<_>>()
                    )
                } else {
                    json!(value)
                };
                parameters.insert(name.clone(), value);
            }
        }
        let mut stand_in = StandIn {
            stack: stack.to_string(),
            parameters,
            conditions: BTreeMap::new(),
            pending: BTreeMap::new(),
            made: BTreeMap::new(),
            caller: Caller::new(&sdk()),
        };
        let declared = template["Conditions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, expression) in &declared {
            let holds = stand_in.holds(&declared, expression);
            stand_in.conditions.insert(name.clone(), holds);
        }
        let resources = template["Resources"].as_object_mut().unwrap();
        let taken: Vec<String> = resources
            .iter()
            .filter(|(_, r)| MADE_BY_THE_API.contains(&r["Type"].as_str().unwrap_or_default()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &taken {
            let resource = resources.remove(id).unwrap();
            let exists = resource["Condition"]
                .as_str()
                .is_none_or(|c| stand_in.conditions[c]);
            if exists {
                stand_in.pending.insert(id.clone(), resource);
            }
        }
        let is_taken = |d: &Value| d.as_str().is_some_and(|d| taken.iter().any(|t| t == d));
        for resource in resources.values_mut() {
            match resource.get_mut("DependsOn") {
                Some(Value::Array(after)) => after.retain(|d| !is_taken(d)),
                Some(one) if is_taken(one) => {
                    resource.as_object_mut().unwrap().remove("DependsOn");
                }
                _ => {}
            }
        }
        stand_in
    }

    /// Whether a condition's expression holds.
    fn holds(&self, declared: &Map<String, Value>, expression: &Value) -> bool {
        let (function, args) = expression.as_object().unwrap().iter().next().unwrap();
        let each = || args.as_array().unwrap().iter();
        match function.as_str() {
            "Condition" => self.holds(declared, &declared[args.as_str().unwrap()]),
            "Fn::Equals" => {
                let side = |v: &Value| self.resolve(v).unwrap_or_else(|e| panic!("{e:?}"));
                side(&args[0]) == side(&args[1])
            }
            "Fn::And" => each().all(|v| self.holds(declared, v)),
            "Fn::Or" => each().any(|v| self.holds(declared, v)),
            "Fn::Not" => !self.holds(declared, &args[0]),
            other => panic!("a condition's {other} is not understood here"),
        }
    }

    /// Makes what needs nothing of the stack, and writes into `template`
    /// what those resolve to and placeholders for the rest.
    pub async fn before(&mut self, template: &mut Value) {
        self.make_what_resolves(&BTreeMap::new(), None).await;
        let resources = template["Resources"].as_object_mut().unwrap();
        for resource in resources.values_mut() {
            self.substitute(resource);
        }
        if let Some(outputs) = template.get_mut("Outputs") {
            self.substitute(outputs);
        }
    }

    /// Makes the rest, now that the stack's resources exist, and sets what
    /// held a placeholder. Returns the logical → physical ids of all it made.
    pub async fn after(
        &mut self,
        template: &Value,
        physical: &BTreeMap<String, String>,
        stack_id: &str,
        outputs: &mut BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        self.make_what_resolves(physical, Some(stack_id)).await;
        for (id, resource) in &self.pending {
            if let Err(Unresolved(missing)) =
                self.resolve_with(&resource["Properties"], physical, Some(stack_id))
            {
                panic!("{id} refers to {missing}, which the rehearsal cannot resolve");
            }
        }
        for (id, resource) in template["Resources"].as_object().unwrap() {
            if !resource.to_string().contains(PLACEHOLDER) {
                continue;
            }
            let name = &physical[id];
            match resource["Type"].as_str().unwrap() {
                "AWS::Lambda::Function" => self.set_environment(name).await,
                "AWS::SSM::Parameter" => self.set_parameter(name).await,
                other => panic!("{id} ({other}) holds a placeholder the rehearsal cannot set"),
            }
        }
        for value in outputs.values_mut() {
            *value = self.filled(value);
        }
        self.made
            .iter()
            .map(|(id, values)| (id.clone(), values[""].clone()))
            .collect()
    }

    async fn make_what_resolves(
        &mut self,
        physical: &BTreeMap<String, String>,
        stack_id: Option<&str>,
    ) {
        loop {
            let mut ready = None;
            for (id, resource) in &self.pending {
                let properties = self.resolve_with(&resource["Properties"], physical, stack_id);
                if let Ok(properties) = properties {
                    ready = Some((id.clone(), properties));
                    break;
                }
            }
            let Some((id, properties)) = ready else { break };
            let resource = self.pending.remove(&id).unwrap();
            let kind = resource["Type"].as_str().unwrap();
            let values = self.make(kind, properties).await;
            self.made.insert(id, values);
        }
    }

    /// Creates one resource; its `Ref` value and attributes.
    async fn make(&self, kind: &str, properties: Value) -> BTreeMap<String, String> {
        let mut p = properties.as_object().cloned().unwrap_or_default();
        let call =
            |service, action, params| call(&self.caller, service, action, Value::Object(params));
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        match kind {
            "AWS::Cognito::UserPool" => {
                let name = p.remove("UserPoolName").unwrap();
                p.insert("PoolName".into(), name);
                let pool = call("cognito-idp", "CreateUserPool", p).await["UserPool"].clone();
                BTreeMap::from([
                    (String::new(), text(&pool["Id"])),
                    ("Arn".into(), text(&pool["Arn"])),
                ])
            }
            "AWS::Cognito::UserPoolGroup" => {
                let name = text(&p["GroupName"]);
                call("cognito-idp", "CreateGroup", p).await;
                BTreeMap::from([(String::new(), name)])
            }
            "AWS::Cognito::UserPoolDomain" => {
                let domain = text(&p["Domain"]);
                call("cognito-idp", "CreateUserPoolDomain", p).await;
                BTreeMap::from([(String::new(), domain)])
            }
            "AWS::Cognito::UserPoolClient" => {
                let client = call("cognito-idp", "CreateUserPoolClient", p).await;
                BTreeMap::from([(String::new(), text(&client["UserPoolClient"]["ClientId"]))])
            }
            "AWS::Lambda::Url" => {
                let function = p.remove("TargetFunctionArn").unwrap();
                p.insert("FunctionName".into(), function);
                let url = call("lambda", "CreateFunctionUrlConfig", p).await;
                // AWS ends a function URL with a slash; moto does not.
                let address = format!("{}/", text(&url["FunctionUrl"]).trim_end_matches('/'));
                BTreeMap::from([
                    (String::new(), text(&url["FunctionArn"])),
                    ("FunctionUrl".into(), address),
                    ("FunctionArn".into(), text(&url["FunctionArn"])),
                ])
            }
            "AWS::Scheduler::Schedule" => {
                let name = text(&p["Name"]);
                // A name another stack holds fails CloudFormation; here the
                // shared-name check says which.
                let made = self
                    .caller
                    .call("scheduler", "CreateSchedule", &Value::Object(p))
                    .await;
                let arn = match made {
                    Ok(made) => text(&made["ScheduleArn"]),
                    Err(e) if e.code.contains("Conflict") => String::new(),
                    Err(e) => panic!("{e}"),
                };
                BTreeMap::from([(String::new(), name), ("Arn".into(), arn)])
            }
            other => panic!("the rehearsal cannot make {other}"),
        }
    }

    /// Sets a function's variables that held placeholders.
    async fn set_environment(&self, function: &str) {
        let configuration = call(
            &self.caller,
            "lambda",
            "GetFunctionConfiguration",
            json!({ "FunctionName": function }),
        )
        .await;
        let variables: Map<String, Value> = configuration["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, json!(self.filled(v.as_str().unwrap_or_default()))))
            .collect();
        call(
            &self.caller,
            "lambda",
            "UpdateFunctionConfiguration",
            json!({ "FunctionName": function, "Environment": { "Variables": variables } }),
        )
        .await;
    }

    /// Sets a parameter whose value held a placeholder.
    async fn set_parameter(&self, name: &str) {
        let parameter = call(&self.caller, "ssm", "GetParameter", json!({ "Name": name })).await;
        let value = self.filled(parameter["Parameter"]["Value"].as_str().unwrap());
        call(
            &self.caller,
            "ssm",
            "PutParameter",
            json!({ "Name": name, "Value": value, "Overwrite": true }),
        )
        .await;
    }

    /// `text` with each placeholder replaced by what it stands for.
    fn filled(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (id, values) in &self.made {
            for (attribute, value) in values {
                text = text.replace(&placeholder(id, attribute), value);
            }
        }
        assert!(!text.contains(PLACEHOLDER), "left unset: {text}");
        text
    }

    /// Replaces each reference to a taken resource in `value`: by what it
    /// resolved to, or by a placeholder.
    fn substitute(&self, value: &mut Value) {
        let value_of = |id: &str, attribute: &str| -> Option<String> {
            if let Some(values) = self.made.get(id) {
                return Some(values[attribute].clone());
            }
            self.pending
                .contains_key(id)
                .then(|| placeholder(id, attribute))
        };
        match value {
            Value::Object(object) if object.len() == 1 => {
                if let Some(Value::String(id)) = object.get("Ref") {
                    if let Some(v) = value_of(id, "") {
                        *value = json!(v);
                    }
                    return;
                }
                if let Some(Value::Array(at)) = object.get("Fn::GetAtt") {
                    let (id, attribute) = (at[0].as_str().unwrap(), at[1].as_str().unwrap());
                    if let Some(v) = value_of(id, attribute) {
                        *value = json!(v);
                    }
                    return;
                }
                if let Some(sub) = object.get_mut("Fn::Sub") {
                    let text = match sub {
                        Value::String(text) => text,
                        Value::Array(parts) => parts[0].as_str().unwrap_or_default(),
                        _ => return,
                    };
                    let mut text = text.to_string();
                    for id in self.pending.keys().chain(self.made.keys()) {
                        for (reference, attribute) in self.references_in(&text, id) {
                            text = text.replace(&reference, &value_of(id, &attribute).unwrap());
                        }
                    }
                    match sub {
                        Value::Array(parts) => parts[0] = json!(text),
                        other => *other = json!(text),
                    }
                    return;
                }
                for v in object.values_mut() {
                    self.substitute(v);
                }
            }
            Value::Object(object) => object.values_mut().for_each(|v| self.substitute(v)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.substitute(v)),
            _ => {}
        }
    }

    /// Each `${ID}` / `${ID.Attribute}` in a `Fn::Sub` text, with its attribute.
    fn references_in(&self, text: &str, id: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut rest = text;
        let start = format!("${{{id}");
        while let Some(at) = rest.find(&start) {
            let after = &rest[at + start.len()..];
            let end = after.find('}').unwrap();
            let tail = &after[..end];
            if tail.is_empty() || tail.starts_with('.') {
                found.push((
                    format!("{start}{tail}}}"),
                    tail.trim_start_matches('.').to_string(),
                ));
            }
            rest = &after[end..];
        }
        found
    }

    fn resolve(&self, value: &Value) -> Result<Value, Unresolved> {
        self.resolve_with(value, &BTreeMap::new(), None)
    }

    /// A template value with its intrinsic functions worked out, or what
    /// it is missing.
    fn resolve_with(
        &self,
        value: &Value,
        physical: &BTreeMap<String, String>,
        stack_id: Option<&str>,
    ) -> Result<Value, Unresolved> {
        let again = |v: &Value| self.resolve_with(v, physical, stack_id);
        let reference = |id: &str, attribute: &str| -> Result<Value, Unresolved> {
            if let Some(v) = self.parameters.get(id).filter(|_| attribute.is_empty()) {
                return Ok(v.clone());
            }
            self.name_of(id, attribute, physical, stack_id)
                .map(Value::String)
        };
        let Value::Object(object) = value else {
            return match value {
                Value::Array(items) => {
                    let items: Vec<Value> = items.iter().map(again).collect::<Result<_, _>>()?;
                    Ok(Value::Array(
                        items.into_iter().filter(|v| !v.is_null()).collect(),
                    ))
                }
                other => Ok(other.clone()),
            };
        };
        if object.len() == 1 {
            let (function, args) = object.iter().next().unwrap();
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            match function.as_str() {
                "Ref" if args == "AWS::NoValue" => return Ok(Value::Null),
                "Ref" => return reference(args.as_str().unwrap(), ""),
                "Fn::GetAtt" => {
                    let (id, attribute) = (text(&args[0]), text(&args[1]));
                    return reference(&id, &attribute);
                }
                "Fn::If" => {
                    let holds = self.conditions[args[0].as_str().unwrap()];
                    return again(&args[if holds { 1 } else { 2 }]);
                }
                "Fn::Join" => {
                    let parts = again(&args[1])?;
                    let parts: Vec<String> = parts.as_array().unwrap().iter().map(text).collect();
                    return Ok(json!(parts.join(&text(&args[0]))));
                }
                "Fn::Split" => {
                    let whole = text(&again(&args[1])?);
                    return Ok(json!(whole.split(&text(&args[0])).collect::<Vec<_>>()));
                }
                "Fn::Select" => {
                    let index: usize = match &args[0] {
                        Value::String(s) => s.parse().unwrap(),
                        n => n.as_u64().unwrap() as usize,
                    };
                    return Ok(again(&args[1])?[index].clone());
                }
                "Fn::Sub" => {
                    let mut text = text(args);
                    while let Some(at) = text.find("${") {
                        let end = at + text[at..].find('}').unwrap();
                        let name = text[at + 2..end].to_string();
                        let (id, attribute) = name.split_once('.').unwrap_or((&name, ""));
                        let v = reference(id, attribute)?;
                        text.replace_range(at..=end, v.as_str().unwrap());
                    }
                    return Ok(json!(text));
                }
                _ => {}
            }
        }
        let mut resolved = Map::new();
        for (key, v) in object {
            let v = again(v)?;
            if !v.is_null() {
                resolved.insert(key.clone(), v);
            }
        }
        Ok(Value::Object(resolved))
    }

    /// What a taken resource, a pseudo parameter or a stack resource's
    /// `Ref` or attribute resolves to.
    fn name_of(
        &self,
        id: &str,
        attribute: &str,
        physical: &BTreeMap<String, String>,
        stack_id: Option<&str>,
    ) -> Result<String, Unresolved> {
        if let Some(values) = self.made.get(id) {
            return values
                .get(attribute)
                .cloned()
                .ok_or_else(|| Unresolved(format!("{id}.{attribute}")));
        }
        match id {
            "AWS::StackName" => return Ok(self.stack.clone()),
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::AccountId" => return Ok(ACCOUNT.into()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::StackId" => {
                return stack_id
                    .map(str::to_string)
                    .ok_or_else(|| Unresolved(id.into()));
            }
            _ => {}
        }
        match (physical.get(id), attribute) {
            (Some(name), "") => Ok(name.clone()),
            // The one attribute of a stack resource a taken one reads.
            (Some(name), "Arn") => Ok(format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")),
            _ => Err(Unresolved(format!("{id}.{attribute}"))),
        }
    }
}

/// The resource types moto's CloudFormation skips, which the rehearsal
/// makes with the API.
const MADE_BY_THE_API: [&str; 6] = [
    "AWS::Lambda::Url",
    "AWS::Scheduler::Schedule",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolGroup",
    "AWS::Cognito::UserPoolDomain",
    "AWS::Cognito::UserPoolClient",
];

/// An AWS API call that must succeed; its response.
pub async fn call(caller: &Caller, service: &str, action: &str, params: Value) -> Value {
    caller
        .call(service, action, &params)
        .await
        .unwrap_or_else(|e| panic!("{service} {action}: {e}"))
}

/// What every placeholder starts with.
const PLACEHOLDER: &str = "stood-in:";

fn placeholder(id: &str, attribute: &str) -> String {
    format!("{PLACEHOLDER}{id}.{attribute};")
}
