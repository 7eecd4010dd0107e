//! `--stack <name>`: a deployment's settings read from its CloudFormation stack (template.yaml)
//! instead of explicit flags: DescribeStacks for the parameters and outputs, DescribeStackResources
//! for the functions' physical names. Names the template derives from `CallCenterApiName` (the
//! SSM parameters of the REST API's connected app) are derived the same way.

use std::collections::BTreeMap;

use crate::CliError;

/// What a stack says about its deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackSettings {
    /// The functions' settings, by their variable names.
    pub variables: BTreeMap<String, String>,
    /// CTRDataSync's function name (resource `CtrDataSyncFunction`).
    pub ctr_function: Option<String>,
    /// The Contact Lens consumer's function name (resource `ContactLensConsumerFunction`).
    pub contact_lens_function: Option<String>,
    /// Outputs `CtrStreamArn`, `ContactLensStreamArn`.
    pub ctr_stream: Option<String>,
    pub contact_lens_stream: Option<String>,
}

/// template.yaml's parameters that are a function setting as they are.
const PARAMETERS: &[(&str, &str)] = &[
    ("CallCenterApiName", "CALL_CENTER_API_NAME"),
    ("SalesforceOrgId", "SALESFORCE_ORG_ID"),
    ("ScrtEndpointBase", "SCRT_ENDPOINT_BASE"),
    ("SalesforceAuthEndpoint", "SALESFORCE_AUTH_ENDPOINT"),
    ("SalesforceRestApiEndpointBase", "SALESFORCE_REST_API_ENDPOINT_BASE"),
    ("SalesforceRestSubject", "SUBJECT"),
];

/// template.yaml's outputs that are a function setting.
const OUTPUTS: &[(&str, &str)] =
    &[("CtrBackupBucketName", "CTR_BACKUP_S3_BUCKET"), ("RecordingsBucketName", "CONTACT_LENS_ANALYSIS_BUCKET")];

impl StackSettings {
    /// From the stack's parameters, outputs and resources (logical id to physical id), as
    /// template.yaml wires them into the functions' environment.
    pub fn from_parts(
        parameters: &BTreeMap<String, String>,
        outputs: &BTreeMap<String, String>,
        resources: &BTreeMap<String, String>,
    ) -> Self {
        let given = |map: &BTreeMap<String, String>, key: &str| map.get(key).filter(|v| !v.is_empty()).cloned();
        let mut variables = BTreeMap::new();
        for (parameter, variable) in PARAMETERS {
            if let Some(value) = given(parameters, parameter) {
                variables.insert((*variable).to_string(), value);
            }
        }
        for (output, variable) in OUTPUTS {
            if let Some(value) = given(outputs, output) {
                variables.insert((*variable).to_string(), value);
            }
        }
        if let Some(instance) =
            given(parameters, "ConnectInstanceArn").and_then(|arn| arn.rsplit('/').next().map(str::to_string))
        {
            variables.insert("CONNECT_INSTANCE_ID".into(), instance);
        }
        if let Some(cc) = given(parameters, "CallCenterApiName") {
            let scrt_key = given(parameters, "ScrtPrivateKeyParamName")
                .unwrap_or_else(|| format!("{cc}-scrt-jwt-auth-private-key"));
            variables.insert("SCRT_PRIVATE_KEY_PARAM_NAME".into(), scrt_key.clone());
            variables.insert("PRIVATE_KEY_PARAM_NAME".into(), scrt_key);
            for (variable, suffix) in [
                ("CONSUMER_KEY_PARAM_NAME", "salesforce-rest-api-auth-consumer-key"),
                ("REST_PRIVATE_KEY_PARAM_NAME", "salesforce-rest-api-auth-private-key"),
                ("ACCESS_TOKEN_PARAM_NAME", "salesforce-rest-api-access-token"),
                ("AUDIENCE", "salesforce-rest-api-audience"),
            ] {
                variables.insert(variable.into(), format!("{cc}-{suffix}"));
            }
        }
        Self {
            variables,
            ctr_function: given(resources, "CtrDataSyncFunction"),
            contact_lens_function: given(resources, "ContactLensConsumerFunction"),
            ctr_stream: given(outputs, "CtrStreamArn"),
            contact_lens_stream: given(outputs, "ContactLensStreamArn"),
        }
    }

    /// Reads stack `name` (DescribeStacks, DescribeStackResources).
    pub async fn read(sdk: &aws_config::SdkConfig, name: &str) -> Result<Self, CliError> {
        let cfn = aws_sdk_cloudformation::Client::new(sdk);
        let described = cfn.describe_stacks().stack_name(name).send().await.map_err(|e| {
            let text = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
            if text.contains("does not exist") {
                CliError::not_found(format!("stack {name} does not exist in this account and region"))
            } else {
                CliError::failed(format!("DescribeStacks {name}: {text}"))
            }
        })?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| CliError::not_found(format!("stack {name} does not exist in this account and region")))?;
        let parameters: BTreeMap<String, String> = stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_string(), p.parameter_value()?.to_string())))
            .collect();
        let outputs: BTreeMap<String, String> = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        let resources = cfn.describe_stack_resources().stack_name(name).send().await.map_err(|e| {
            CliError::failed(format!(
                "DescribeStackResources {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(&e)
            ))
        })?;
        let resources: BTreeMap<String, String> = resources
            .stack_resources()
            .iter()
            .filter_map(|r| Some((r.logical_resource_id()?.to_string(), r.physical_resource_id()?.to_string())))
            .collect();
        Ok(Self::from_parts(&parameters, &outputs, &resources))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_template_s_wiring() {
        let stack = StackSettings::from_parts(
            &map(&[
                ("CallCenterApiName", "ACME_CC"),
                ("SalesforceOrgId", "00D000000000001"),
                ("ScrtPrivateKeyParamName", ""),
                ("ConnectInstanceArn", "arn:aws:connect:us-east-1:123456789012:instance/inst-1"),
            ]),
            &map(&[("CtrBackupBucketName", "acme-ctr"), ("CtrStreamArn", "arn:ctr")]),
            &map(&[("CtrDataSyncFunction", "ACME-CtrDataSync-x1")]),
        );
        let v = &stack.variables;
        assert_eq!(v["PRIVATE_KEY_PARAM_NAME"], "ACME_CC-scrt-jwt-auth-private-key");
        assert_eq!(v["CONNECT_INSTANCE_ID"], "inst-1");
        assert_eq!(v["CTR_BACKUP_S3_BUCKET"], "acme-ctr");
        assert_eq!(v["AUDIENCE"], "ACME_CC-salesforce-rest-api-audience");
        assert_eq!(stack.ctr_function.as_deref(), Some("ACME-CtrDataSync-x1"));
        assert_eq!(stack.ctr_stream.as_deref(), Some("arn:ctr"));
        assert_eq!(stack.contact_lens_function, None);
    }
}
