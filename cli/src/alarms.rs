//! The doctor's `alarms` check: the CloudWatch alarms of the deployment exist (Service Cloud Voice
//! Implementation Guide, ch. 8, "Customer Alerts Alarms"), notify someone, and which are firing now.
//!
//! The alarms expected are the stack's own `AWS::CloudWatch::Alarm` resources when `--stack` lists
//! them, else those template.yaml declares for the contact center (`CALL_CENTER_API_NAME`): the
//! template is compiled in and its `AlarmName`s read from it, so the list cannot drift from what
//! `sam deploy` creates.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::StateValue;

use crate::doctor::Check;

/// template.yaml, as `sam deploy` of this version deploys it.
const TEMPLATE: &str = include_str!("../../template.yaml");
/// DescribeAlarms takes at most 100 names per request.
const NAMES_PER_REQUEST: usize = 100;
/// How many names a line lists before "and N more".
const LISTED: usize = 5;

/// The alarm names template.yaml gives a contact center (its `AlarmName: !Sub "..."` lines, with
/// `${CallCenterApiName}` replaced), in template order.
pub fn template_alarms(call_center: &str) -> Vec<String> {
    TEMPLATE
        .lines()
        .filter_map(|line| line.trim().strip_prefix("AlarmName: !Sub "))
        .map(|quoted| quoted.trim_matches('"').replace("${CallCenterApiName}", call_center))
        .collect()
}

/// What DescribeAlarms says of one alarm.
struct Found {
    actions_enabled: bool,
    has_actions: bool,
    state: StateValue,
}

/// `names` with at most [`LISTED`] of them, then how many more.
fn listed(names: &[&str]) -> String {
    let shown = names.iter().take(LISTED).map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(LISTED) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Checks that every alarm of `expected` exists (DescribeAlarms by name), that each can notify
/// (it has an alarm action), and reports those in ALARM now. `source` says where `expected` came
/// from, for the detail line.
pub async fn check(cloudwatch: &aws_sdk_cloudwatch::Client, expected: &[String], source: &str) -> Check {
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    for chunk in expected.chunks(NAMES_PER_REQUEST) {
        let mut pages =
            cloudwatch.describe_alarms().set_alarm_names(Some(chunk.to_vec())).max_records(100).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    return Check::fail(
                        "alarms",
                        format!("DescribeAlarms failed: {}", aws_sdk_cloudwatch::error::DisplayErrorContext(&e)),
                        "the caller needs cloudwatch:DescribeAlarms in the stack's region",
                    );
                }
            };
            for alarm in page.metric_alarms() {
                let Some(name) = alarm.alarm_name() else { continue };
                found.insert(
                    name.to_string(),
                    Found {
                        actions_enabled: alarm.actions_enabled().unwrap_or(false),
                        has_actions: !alarm.alarm_actions().is_empty(),
                        state: alarm.state_value().cloned().unwrap_or(StateValue::InsufficientData),
                    },
                );
            }
        }
    }
    let missing: Vec<&str> = expected.iter().map(String::as_str).filter(|n| !found.contains_key(*n)).collect();
    if !missing.is_empty() {
        return Check::fail(
            "alarms",
            format!(
                "{} of the {} alarms of {source} do not exist: {}",
                missing.len(),
                expected.len(),
                listed(&missing)
            ),
            "deploy template.yaml (`sam deploy`) to create them; CloudFormation does not recreate an alarm deleted \
             outside it on an update: find it with `aws cloudformation detect-stack-drift`, then create it again with \
             `aws cloudwatch put-metric-alarm` and the properties the template gives it",
        );
    }
    let silent: Vec<&str> =
        expected.iter().map(String::as_str).filter(|n| found.get(*n).is_some_and(|f| !f.has_actions)).collect();
    if !silent.is_empty() {
        return Check::fail(
            "alarms",
            format!("{} alarm(s) notify no one (no alarm action): {}", silent.len(), listed(&silent)),
            "`aws cloudwatch put-metric-alarm` with `--alarm-actions <the stack's AlertTopic ARN>` and the alarm's other \
             properties, or redeploy the stack",
        );
    }
    let firing: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|n| found.get(*n).is_some_and(|f| f.state == StateValue::Alarm))
        .collect();
    let enabled = found.values().filter(|f| f.actions_enabled).count();
    let exist = format!(
        "the {} alarms of {source} exist and notify ({enabled} with actions enabled; the Throttles alarms start disabled)",
        expected.len()
    );
    if firing.is_empty() {
        return Check::pass("alarms", format!("{exist}; none is in ALARM"));
    }
    Check::warn(
        "alarms",
        format!("{exist}; in ALARM now: {}", listed(&firing)),
        "see docs/operations.md for what each alarm means: a queue alarm holds records to replay, an Errors alarm \
         points at the function's logs (search for the contactId)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alarm of template.yaml is read, with its name as CloudFormation substitutes it.
    #[test]
    fn the_template_s_alarms() {
        let names = template_alarms("ACME_CC");
        let declared = TEMPLATE.matches("Type: AWS::CloudWatch::Alarm").count();
        assert_eq!(names.len(), declared, "an AlarmName not written as `AlarmName: !Sub \"...\"`");
        assert!(names.contains(&"SCV Lambda CTRDataSyncFunction Errors (ACME_CC)".to_string()), "{names:?}");
        assert!(names.contains(&"SCV Queue - ACME_CC CTR sync failures".to_string()), "{names:?}");
        for name in &names {
            assert!(!name.contains("${"), "a substitution left in {name}");
            assert!(!name.contains('"'), "{name}");
        }
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "alarm names are unique in an account and region");
    }

    #[test]
    fn lists_a_few_then_counts() {
        assert_eq!(listed(&["a", "b"]), "\"a\", \"b\"");
        assert_eq!(listed(&["1", "2", "3", "4", "5", "6", "7"]), "\"1\", \"2\", \"3\", \"4\", \"5\" and 2 more");
    }
}
