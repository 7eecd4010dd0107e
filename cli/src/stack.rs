//! `--stack <name>`: a deployment's settings read from its CloudFormation stack (template.yaml)
//! instead of explicit flags: DescribeStacks for the parameters and outputs, DescribeStackResources
//! for the functions' physical names. The SSM parameter names are the stack's own parameters (the
//! official names, with the official defaults), read as the template wires them.

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
    /// The names of the stack's `AWS::CloudWatch::Alarm` resources (their physical ids).
    pub alarms: Vec<String>,
}

/// template.yaml's parameters that are a function setting as they are.
const PARAMETERS: &[(&str, &str)] = &[
    ("CallCenterApiName", "CALL_CENTER_API_NAME"),
    ("SalesforceOrgId", "SALESFORCE_ORG_ID"),
    ("ScrtEndpointUrl", "SCRT_ENDPOINT_BASE"),
    ("ConnectInstanceId", "CONNECT_INSTANCE_ID"),
    ("SalesforceAuthEndpoint", "SALESFORCE_AUTH_ENDPOINT"),
    ("SalesforceRestApiEndpointBase", "SALESFORCE_REST_API_ENDPOINT_BASE"),
    ("TelephonyIntegrationAuthPrivateKeySSMParamName", "SCRT_PRIVATE_KEY_PARAM_NAME"),
    ("SalesforceRestApiSubjectSSMParamName", "SUBJECT"),
    ("SalesforceRestApiAuthConsumerKeySSMParamName", "CONSUMER_KEY_PARAM_NAME"),
    ("SalesforceRestApiAuthPrivateKeySSMParamName", "REST_PRIVATE_KEY_PARAM_NAME"),
    ("SalesforceRestApiAccessTokenSSMParamName", "ACCESS_TOKEN_PARAM_NAME"),
    ("SalesforceRestApiAudienceSSMParamName", "AUDIENCE"),
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
        // The Telephony Integration API functions read the key under PRIVATE_KEY_PARAM_NAME too.
        if let Some(key) = variables.get("SCRT_PRIVATE_KEY_PARAM_NAME").cloned() {
            variables.insert("PRIVATE_KEY_PARAM_NAME".into(), key);
        }
        Self {
            variables,
            ctr_function: given(resources, "CtrDataSyncFunction"),
            contact_lens_function: given(resources, "ContactLensConsumerFunction"),
            ctr_stream: given(outputs, "CtrStreamArn"),
            contact_lens_stream: given(outputs, "ContactLensStreamArn"),
            alarms: Vec::new(),
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
        let alarms = alarm_names(resources.stack_resources());
        let resources: BTreeMap<String, String> = resources
            .stack_resources()
            .iter()
            .filter_map(|r| Some((r.logical_resource_id()?.to_string(), r.physical_resource_id()?.to_string())))
            .collect();
        Ok(Self { alarms, ..Self::from_parts(&parameters, &outputs, &resources) })
    }
}

/// The names of the alarms among a stack's resources: an `AWS::CloudWatch::Alarm`'s physical id is
/// its name.
fn alarm_names(resources: &[aws_sdk_cloudformation::types::StackResource]) -> Vec<String> {
    resources
        .iter()
        .filter(|r| r.resource_type() == Some("AWS::CloudWatch::Alarm"))
        .filter_map(|r| r.physical_resource_id().filter(|id| !id.is_empty()).map(str::to_string))
        .collect()
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
                ("TelephonyIntegrationAuthPrivateKeySSMParamName", "telephony-integration-auth-private-key"),
                ("SalesforceRestApiAudienceSSMParamName", "salesforce-rest-api-audience"),
                ("ConnectInstanceId", "0d1b7a2c-1111-4222-8333-444455556666"),
            ]),
            &map(&[("CtrBackupBucketName", "acme-ctr"), ("CtrStreamArn", "arn:ctr")]),
            &map(&[("CtrDataSyncFunction", "ACME-CtrDataSync-x1")]),
        );
        let v = &stack.variables;
        assert_eq!(v["PRIVATE_KEY_PARAM_NAME"], "telephony-integration-auth-private-key");
        assert_eq!(v["SCRT_PRIVATE_KEY_PARAM_NAME"], "telephony-integration-auth-private-key");
        assert_eq!(v["CONNECT_INSTANCE_ID"], "0d1b7a2c-1111-4222-8333-444455556666");
        assert_eq!(v["CTR_BACKUP_S3_BUCKET"], "acme-ctr");
        assert_eq!(v["AUDIENCE"], "salesforce-rest-api-audience");
        assert!(!v.contains_key("SUBJECT"), "a parameter the stack does not have is not made up");
        assert_eq!(stack.ctr_function.as_deref(), Some("ACME-CtrDataSync-x1"));
        assert_eq!(stack.ctr_stream.as_deref(), Some("arn:ctr"));
        assert_eq!(stack.contact_lens_function, None);
    }

    /// Every parameter read is one of template.yaml's and reaches the variable it is read as, so a
    /// renamed parameter fails here rather than leaving `--stack` silently blind to it.
    #[test]
    fn the_parameters_and_outputs_read_are_the_template_s() {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
            .unwrap_or_else(|e| panic!("template.yaml: {e}"));
        for (parameter, variable) in PARAMETERS {
            assert!(template.contains(&format!("\n  {parameter}:\n    Type:")), "no template parameter {parameter}");
            assert!(
                template.contains(&format!("{variable}: !Ref {parameter}")),
                "template.yaml does not set {variable} from {parameter}"
            );
        }
        for (output, _) in OUTPUTS {
            assert!(template.contains(&format!("\n  {output}:\n")), "no template output {output}");
        }
    }

    #[test]
    fn the_stack_s_alarms_are_its_alarm_resources() {
        use aws_sdk_cloudformation::types::StackResource;
        let resource = |id: &str, kind: &str, physical: Option<&str>| {
            StackResource::builder()
                .logical_resource_id(id)
                .resource_type(kind)
                .set_physical_resource_id(physical.map(str::to_string))
                .build()
        };
        let resources = [
            resource(
                "CtrDataSyncErrorsAlarm",
                "AWS::CloudWatch::Alarm",
                Some("SCV Lambda CTRDataSyncFunction Errors (ACME)"),
            ),
            resource("CtrDataSyncFunction", "AWS::Lambda::Function", Some("ACME-CTRDataSyncFunction")),
            resource("PendingAlarm", "AWS::CloudWatch::Alarm", None),
        ];
        assert_eq!(alarm_names(&resources), vec!["SCV Lambda CTRDataSyncFunction Errors (ACME)".to_string()]);
    }
}
