//! A deployed stack as CloudFormation tells it: its outputs (what `--stack`
//! reads) and its resources (what `updraft doctor` checks).

use std::collections::BTreeMap;

use aws_config::SdkConfig;

use crate::sdk_error::describe;

/// A stack's outputs and resources (logical id → physical id, type).
#[derive(Clone, Debug, Default)]
pub struct StackView {
    /// Output key → value.
    pub outputs: BTreeMap<String, String>,
    /// Logical id → (physical id, resource type).
    pub resources: BTreeMap<String, (String, String)>,
}

/// A stack's outputs, by key: what `--stack` reads.
pub async fn stack_outputs(
    sdk: &SdkConfig,
    stack: &str,
) -> Result<BTreeMap<String, String>, String> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let described = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(described
        .stacks()
        .first()
        .map(|s| s.outputs())
        .unwrap_or_default()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect())
}

/// Reads a stack's outputs and resources.
pub async fn stack_view(sdk: &SdkConfig, stack: &str) -> Result<StackView, String> {
    let outputs = stack_outputs(sdk, stack).await?;
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let mut resources = BTreeMap::new();
    let mut token = None;
    // A stack has a few dozen resources: a page or two.
    for _ in 0..20 {
        let page = client
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        for r in page.stack_resource_summaries() {
            if let (Some(logical), Some(physical)) =
                (r.logical_resource_id(), r.physical_resource_id())
            {
                let kind = r.resource_type().unwrap_or_default().to_string();
                resources.insert(logical.to_string(), (physical.to_string(), kind));
            }
        }
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    Ok(StackView { outputs, resources })
}
