//! Reading `template.yaml` the way CloudFormation would, offline: parameters, conditions and the
//! intrinsic functions the template uses (`Ref`, `Fn::Sub`, `Fn::If`, `Fn::GetAtt`, `Fn::Select`,
//! `Fn::Split`, `Fn::Join`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`), so tests can
//! start each function with exactly the environment the template gives it and inspect its
//! policies, mappings and alarms with every value in place.
//!
//! [`Template::load`] reads the project's `template.yaml` and turns CloudFormation's short tags
//! (`!Ref X`) into the long-form intrinsics of its JSON form (`{"Ref": "X"}`), which is what
//! [`Template::new`] takes.
//! Resources resolve to plausible local names and ARNs (account [`ACCOUNT_ID`], region
//! [`REGION`]); the SAM resources a function's `Events` generate (`<Function><Event>`, e.g. its
//! EventBridge rule) and `<Function>.Alias` resolve too. Anything else unknown is an error naming
//! it, so a typo is not silently resolved.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Map, Value, json};

/// The account id of every resolved ARN (the local stack's).
pub const ACCOUNT_ID: &str = crate::runtime::ACCOUNT_ID;
/// The region of every resolved ARN (the local stack's).
pub const REGION: &str = crate::moto::REGION;
/// The stack name used in generated names.
pub const STACK_NAME: &str = "scv-local";
/// The alias SAM publishes (`AutoPublishAlias`).
pub const ALIAS: &str = "active";

/// A template in CloudFormation's JSON form.
#[derive(Debug, Clone)]
pub struct Template {
    pub doc: Value,
}

/// The template with parameters chosen, conditions evaluated and every intrinsic resolved.
/// Resources whose `Condition` is false are gone; `AWS::NoValue` removed its key or list item.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Logical id to resolved resource (`Type`, `Properties`, `Metadata`...).
    pub resources: BTreeMap<String, Value>,
    /// The parameter values used.
    pub parameters: BTreeMap<String, String>,
    /// The condition values used.
    pub conditions: BTreeMap<String, bool>,
    /// The resolved `Globals` section (SAM), or null.
    pub globals: Value,
}

impl Template {
    pub fn new(doc: Value) -> Template {
        Template { doc }
    }

    /// The project's `template.yaml` (at the workspace root).
    pub fn load() -> Result<Template> {
        Template::load_from(&crate::workspace_root().join("template.yaml"))
    }

    /// A SAM/CloudFormation template in YAML, short tags included.
    pub fn load_from(path: &std::path::Path) -> Result<Template> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Template::from_yaml(&text).with_context(|| format!("reading {}", path.display()))
    }

    /// A template from its YAML text.
    pub fn from_yaml(text: &str) -> Result<Template> {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).context("not YAML")?;
        Ok(Template::new(yaml_to_json(yaml)?))
    }

    /// `Resources` as a map (empty when absent).
    pub fn resources(&self) -> Map<String, Value> {
        self.doc.get("Resources").and_then(Value::as_object).cloned().unwrap_or_default()
    }

    /// Logical ids of the resources of type `kind`, in template order.
    pub fn resources_of_type(&self, kind: &str) -> Vec<String> {
        self.resources()
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every parameter's name and default (`None` without a default).
    pub fn parameter_defaults(&self) -> BTreeMap<String, Option<String>> {
        let params = self.doc.get("Parameters").and_then(Value::as_object).cloned().unwrap_or_default();
        params.into_iter().map(|(name, p)| (name, p.get("Default").and_then(scalar_text))).collect()
    }

    /// Resolves the template with `values` for its parameters: each parameter takes its value
    /// from `values`, else its default; a parameter with neither is an error naming it.
    pub fn resolve(&self, values: &BTreeMap<String, String>) -> Result<Resolved> {
        let mut parameters = BTreeMap::new();
        for (name, default) in self.parameter_defaults() {
            let value = values.get(&name).cloned().or(default).ok_or_else(|| {
                anyhow!("parameter {name} has no default: give it a sample value to resolve the template")
            })?;
            parameters.insert(name, value);
        }
        for name in values.keys() {
            if !parameters.contains_key(name) {
                bail!("{name} is not a parameter of the template");
            }
        }
        let mut resolver = Resolver { template: self, parameters, conditions: BTreeMap::new() };
        let condition_names: Vec<String> = self
            .doc
            .get("Conditions")
            .and_then(Value::as_object)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        for name in condition_names {
            let value = resolver.condition(&name, &mut Vec::new())?;
            resolver.conditions.insert(name, value);
        }
        let mut resources = BTreeMap::new();
        for (id, resource) in self.resources() {
            if let Some(condition) = resource.get("Condition").and_then(Value::as_str) {
                let on = *resolver
                    .conditions
                    .get(condition)
                    .ok_or_else(|| anyhow!("resource {id} names an unknown condition {condition}"))?;
                if !on {
                    continue;
                }
            }
            let value = resolver.value(&resource).with_context(|| format!("resolving resource {id}"))?;
            resources.insert(id, value.unwrap_or(Value::Null));
        }
        let globals = match self.doc.get("Globals") {
            Some(g) => resolver.value(g).context("resolving Globals")?.unwrap_or(Value::Null),
            None => Value::Null,
        };
        Ok(Resolved { resources, parameters: resolver.parameters, conditions: resolver.conditions, globals })
    }
}

impl Resolved {
    /// The environment variables of SAM function `id`: the `Globals` ones overridden by its own, as
    /// text (numbers and booleans as CloudFormation passes them). A value that is not a scalar is an
    /// error naming the variable.
    pub fn function_env(&self, id: &str) -> Result<BTreeMap<String, String>> {
        let resource = self.resources.get(id).ok_or_else(|| anyhow!("no resource {id}"))?;
        let mut env = BTreeMap::new();
        let global = self.globals.pointer("/Function/Environment/Variables");
        let own = resource.pointer("/Properties/Environment/Variables");
        for vars in [global, own].into_iter().flatten().filter(|v| !v.is_null()) {
            let vars = vars.as_object().ok_or_else(|| anyhow!("{id}: Environment.Variables is not a map"))?;
            for (name, value) in vars {
                let text = scalar_text(value)
                    .ok_or_else(|| anyhow!("{id}: environment variable {name} resolved to {value}, not a scalar"))?;
                env.insert(name.clone(), text);
            }
        }
        Ok(env)
    }

    /// A property of SAM function `id`, from the function or else from `Globals.Function`.
    pub fn function_property(&self, id: &str, name: &str) -> Option<&Value> {
        self.resources
            .get(id)
            .and_then(|r| r.pointer(&format!("/Properties/{name}")))
            .or_else(|| self.globals.pointer(&format!("/Function/{name}")))
    }

    /// Logical ids of the resources of type `kind`.
    pub fn resources_of_type(&self, kind: &str) -> Vec<String> {
        self.resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// CloudFormation's JSON form of YAML: short tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) become the
/// long-form intrinsics (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, `{"Fn::Sub": ...}`).
pub fn yaml_to_json(value: serde_yaml_ng::Value) -> Result<Value> {
    use serde_yaml_ng::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().ok_or_else(|| anyhow!("number {n} is not representable"))?)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect::<Result<_>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => bail!("a mapping key that is not a scalar: {other:?}"),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!').to_string();
            let inner = yaml_to_json(tagged.value)?;
            match name.as_str() {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(dotted) => {
                        let (id, attribute) =
                            dotted.split_once('.').ok_or_else(|| anyhow!("!GetAtt {dotted} names no attribute"))?;
                        json!({ "Fn::GetAtt": [id, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
    })
}

/// The text CloudFormation would pass for a scalar: strings as they are, numbers and booleans
/// printed; `None` for anything else.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The logical id a value refers to: `{"Ref": "X"}`, `{"Ref": "X.Alias"}` or
/// `{"Fn::GetAtt": ["X", ...]}` give `X`; anything else `None`.
pub fn referenced_resource(value: &Value) -> Option<String> {
    let map = value.as_object().filter(|m| m.len() == 1)?;
    if let Some(Value::String(target)) = map.get("Ref") {
        return Some(target.split('.').next().unwrap_or(target).to_string());
    }
    match map.get("Fn::GetAtt") {
        Some(Value::Array(parts)) => parts.first().and_then(Value::as_str).map(str::to_string),
        Some(Value::String(dotted)) => dotted.split('.').next().map(str::to_string),
        _ => None,
    }
}

struct Resolver<'a> {
    template: &'a Template,
    parameters: BTreeMap<String, String>,
    conditions: BTreeMap<String, bool>,
}

impl Resolver<'_> {
    /// Resolves every intrinsic in `value`; `None` means `AWS::NoValue`.
    fn value(&self, value: &Value) -> Result<Option<Value>> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
                match key {
                    "Ref" => self.reference(arg),
                    "Fn::Sub" => self.sub(arg).map(|s| Some(Value::String(s))),
                    "Fn::If" => self.fn_if(arg),
                    "Fn::GetAtt" => self.get_att(arg).map(Some),
                    "Fn::Select" => self.select(arg).map(Some),
                    "Fn::Split" => self.split(arg).map(Some),
                    "Fn::Join" => self.join(arg).map(Some),
                    "Fn::FindInMap" => self.find_in_map(arg).map(Some),
                    "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                        self.condition_expr(value, &mut Vec::new()).map(|b| Some(Value::Bool(b)))
                    }
                    other if other.starts_with("Fn::") => bail!("unsupported intrinsic function {other}"),
                    _ => self.object(map).map(Some),
                }
            }
            Value::Object(map) => self.object(map).map(Some),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Some(v) = self.value(item)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn object(&self, map: &Map<String, Value>) -> Result<Value> {
        let mut out = Map::new();
        for (key, v) in map {
            if let Some(v) = self.value(v).with_context(|| format!("in {key}"))? {
                out.insert(key.clone(), v);
            }
        }
        Ok(Value::Object(out))
    }

    /// A resolved value that must be text.
    fn text(&self, value: &Value) -> Result<String> {
        let resolved = self.value(value)?.ok_or_else(|| anyhow!("AWS::NoValue where a value is needed"))?;
        scalar_text(&resolved).ok_or_else(|| anyhow!("{resolved} where text is needed"))
    }

    fn reference(&self, arg: &Value) -> Result<Option<Value>> {
        let name = arg.as_str().ok_or_else(|| anyhow!("Ref of {arg}"))?;
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        self.name(name).map(|s| Some(Value::String(s)))
    }

    /// What `Ref` of `name` gives: a pseudo parameter, a parameter or a resource.
    fn name(&self, name: &str) -> Result<String> {
        match name {
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::AccountId" => return Ok(ACCOUNT_ID.into()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::StackName" => return Ok(STACK_NAME.into()),
            "AWS::StackId" => {
                return Ok(format!("arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local"));
            }
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        if let Some(function) = name.strip_suffix(".Alias") {
            return Ok(format!("{}:{ALIAS}", self.attribute(function, "Arn")?));
        }
        if let Some(function) = name.strip_suffix(".Version") {
            return Ok(format!("{}:1", self.attribute(function, "Arn")?));
        }
        let (kind, resource) = self.resource(name)?;
        Ok(match kind.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                self.physical_name(name, &resource, "FunctionName")?
            }
            "AWS::S3::Bucket" => self.physical_name(name, &resource, "BucketName")?,
            "AWS::SQS::Queue" => {
                format!(
                    "https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{}",
                    self.physical_name(name, &resource, "QueueName")?
                )
            }
            "AWS::SNS::Topic" => {
                format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{}", self.physical_name(name, &resource, "TopicName")?)
            }
            "AWS::Kinesis::Stream" => self.physical_name(name, &resource, "Name")?,
            "AWS::CloudWatch::Alarm" => self.physical_name(name, &resource, "AlarmName")?,
            "AWS::Events::Rule" => self.physical_name(name, &resource, "Name")?,
            _ => format!("{STACK_NAME}-{name}"),
        })
    }

    /// A resource's name property when it sets one, else a generated `<stack>-<logical id>` name
    /// (lower case for buckets).
    fn physical_name(&self, id: &str, resource: &Value, property: &str) -> Result<String> {
        match resource.pointer(&format!("/Properties/{property}")) {
            Some(v) => self.text(v).with_context(|| format!("resolving {id}.{property}")),
            None if property == "BucketName" => Ok(format!("{STACK_NAME}-{}-local", id.to_lowercase())),
            None => Ok(format!("{STACK_NAME}-{id}")),
        }
    }

    /// The type and raw definition of a resource, including the SAM-generated resources of a
    /// function's `Events` (`<Function><Event>`).
    fn resource(&self, id: &str) -> Result<(String, Value)> {
        let resources = self.template.resources();
        if let Some(r) = resources.get(id) {
            let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default().to_string();
            return Ok((kind, r.clone()));
        }
        for (function, r) in &resources {
            if r.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let Some(events) = r.pointer("/Properties/Events").and_then(Value::as_object) else { continue };
            for (event, e) in events {
                if format!("{function}{event}") != id {
                    continue;
                }
                let kind = match e.get("Type").and_then(Value::as_str).unwrap_or_default() {
                    "Schedule" | "EventBridgeRule" | "CloudWatchEvent" => "AWS::Events::Rule",
                    "SNS" => "AWS::SNS::Subscription",
                    "ScheduleV2" => "AWS::Scheduler::Schedule",
                    other => bail!("resource {id}: SAM event type {other} is not modelled here"),
                };
                return Ok((kind.to_string(), serde_json::json!({ "Type": kind })));
            }
        }
        bail!("unknown resource or parameter {id}")
    }

    fn get_att(&self, arg: &Value) -> Result<Value> {
        let (id, attribute) = match arg {
            Value::Array(parts) if parts.len() == 2 => {
                (parts[0].as_str().unwrap_or_default().to_string(), self.text(&parts[1])?)
            }
            Value::String(dotted) => match dotted.split_once('.') {
                Some((id, attribute)) => (id.to_string(), attribute.to_string()),
                None => bail!("Fn::GetAtt {dotted} names no attribute"),
            },
            other => bail!("Fn::GetAtt of {other}"),
        };
        self.attribute(&id, &attribute).map(Value::String)
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String> {
        let (kind, _) = self.resource(id)?;
        let name = || self.name(id);
        Ok(match (kind.as_str(), attribute) {
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}", name()?)
            }
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{}", name()?),
            ("AWS::S3::Bucket", "DomainName") => format!("{}.s3.amazonaws.com", name()?),
            ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{}", self.queue_name(id)?),
            ("AWS::SQS::Queue", "QueueName") => self.queue_name(id)?,
            ("AWS::SQS::Queue", "QueueUrl") => name()?,
            ("AWS::SNS::Topic", "TopicArn") => name()?,
            ("AWS::SNS::Topic", "TopicName") => name()?.rsplit(':').next().unwrap_or_default().to_string(),
            ("AWS::Kinesis::Stream", "Arn") => format!("arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{}", name()?),
            ("AWS::CloudWatch::Alarm", "Arn") => format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{}", name()?),
            ("AWS::Events::Rule", "Arn") => format!("arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{}", name()?),
            ("AWS::Logs::LogGroup", "Arn") => format!("arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{}:*", name()?),
            (kind, attribute) => bail!("Fn::GetAtt {id}.{attribute} ({kind}) is not modelled here"),
        })
    }

    fn queue_name(&self, id: &str) -> Result<String> {
        let url = self.name(id)?;
        Ok(url.rsplit('/').next().unwrap_or_default().to_string())
    }

    fn sub(&self, arg: &Value) -> Result<String> {
        let (text, vars) = match arg {
            Value::String(text) => (text.clone(), Map::new()),
            Value::Array(parts) if parts.len() == 2 => {
                let text = parts[0].as_str().ok_or_else(|| anyhow!("Fn::Sub template is not text"))?.to_string();
                let vars = parts[1].as_object().cloned().ok_or_else(|| anyhow!("Fn::Sub variables are not a map"))?;
                (text, vars)
            }
            other => bail!("Fn::Sub of {other}"),
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| anyhow!("Fn::Sub {text:?}: unclosed ${{"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&self.text(v).with_context(|| format!("Fn::Sub variable {name}"))?);
            } else if let Some((id, attribute)) = name.split_once('.').filter(|(_, a)| *a != "Alias") {
                out.push_str(&self.attribute(id, attribute)?);
            } else {
                out.push_str(&self.name(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn fn_if(&self, arg: &Value) -> Result<Option<Value>> {
        let parts = arg.as_array().filter(|p| p.len() == 3).ok_or_else(|| anyhow!("Fn::If needs 3 arguments"))?;
        let name = parts[0].as_str().ok_or_else(|| anyhow!("Fn::If condition is not a name"))?;
        let on = *self.conditions.get(name).ok_or_else(|| anyhow!("Fn::If names an unknown condition {name}"))?;
        self.value(if on { &parts[1] } else { &parts[2] })
    }

    fn select(&self, arg: &Value) -> Result<Value> {
        let parts = arg.as_array().filter(|p| p.len() == 2).ok_or_else(|| anyhow!("Fn::Select needs 2 arguments"))?;
        let index: usize = self.text(&parts[0])?.parse().context("Fn::Select index")?;
        let list = self.value(&parts[1])?.unwrap_or(Value::Null);
        list.as_array()
            .and_then(|l| l.get(index).cloned())
            .ok_or_else(|| anyhow!("Fn::Select index {index} out of {list}"))
    }

    /// `Fn::FindInMap [Map, TopKey, SecondKey]` from the template's `Mappings`.
    fn find_in_map(&self, arg: &Value) -> Result<Value> {
        let parts =
            arg.as_array().filter(|p| p.len() == 3).ok_or_else(|| anyhow!("Fn::FindInMap needs 3 arguments"))?;
        let (map, top, second) = (self.text(&parts[0])?, self.text(&parts[1])?, self.text(&parts[2])?);
        self.template
            .doc
            .pointer(&format!("/Mappings/{map}/{top}/{second}"))
            .cloned()
            .ok_or_else(|| anyhow!("Fn::FindInMap: Mappings has no {map}.{top}.{second}"))
    }

    fn split(&self, arg: &Value) -> Result<Value> {
        let parts = arg.as_array().filter(|p| p.len() == 2).ok_or_else(|| anyhow!("Fn::Split needs 2 arguments"))?;
        let delimiter = self.text(&parts[0])?;
        let text = self.text(&parts[1])?;
        Ok(Value::Array(text.split(delimiter.as_str()).map(|s| Value::String(s.to_string())).collect()))
    }

    fn join(&self, arg: &Value) -> Result<Value> {
        let parts = arg.as_array().filter(|p| p.len() == 2).ok_or_else(|| anyhow!("Fn::Join needs 2 arguments"))?;
        let delimiter = self.text(&parts[0])?;
        let list = self.value(&parts[1])?.unwrap_or(Value::Null);
        let items = list.as_array().ok_or_else(|| anyhow!("Fn::Join of {list}"))?;
        let texts: Option<Vec<String>> = items.iter().map(scalar_text).collect();
        Ok(Value::String(texts.ok_or_else(|| anyhow!("Fn::Join of {list}"))?.join(&delimiter)))
    }

    /// The value of condition `name`, evaluating the conditions it uses first.
    fn condition(&self, name: &str, stack: &mut Vec<String>) -> Result<bool> {
        if let Some(value) = self.conditions.get(name) {
            return Ok(*value);
        }
        if stack.iter().any(|n| n == name) {
            bail!("condition {name} depends on itself");
        }
        let expr = self
            .template
            .doc
            .pointer(&format!("/Conditions/{name}"))
            .cloned()
            .ok_or_else(|| anyhow!("unknown condition {name}"))?;
        stack.push(name.to_string());
        let value = self.condition_expr(&expr, stack).with_context(|| format!("condition {name}"));
        stack.pop();
        value
    }

    fn condition_expr(&self, expr: &Value, stack: &mut Vec<String>) -> Result<bool> {
        let map = expr.as_object().filter(|m| m.len() == 1).ok_or_else(|| anyhow!("not a condition: {expr}"))?;
        let (key, arg) = map.iter().next().ok_or_else(|| anyhow!("empty condition"))?;
        let args = || arg.as_array().cloned().ok_or_else(|| anyhow!("{key} needs a list"));
        match key.as_str() {
            "Fn::Equals" => {
                let parts = args()?;
                if parts.len() != 2 {
                    bail!("Fn::Equals needs 2 arguments");
                }
                Ok(self.text(&parts[0])? == self.text(&parts[1])?)
            }
            "Fn::Not" => {
                let parts = args()?;
                Ok(!self.condition_expr(parts.first().ok_or_else(|| anyhow!("Fn::Not needs 1 argument"))?, stack)?)
            }
            "Fn::And" => {
                let mut all = true;
                for part in args()? {
                    all &= self.condition_expr(&part, stack)?;
                }
                Ok(all)
            }
            "Fn::Or" => {
                let mut any = false;
                for part in args()? {
                    any |= self.condition_expr(&part, stack)?;
                }
                Ok(any)
            }
            "Condition" => self.condition(arg.as_str().ok_or_else(|| anyhow!("Condition of {arg}"))?, stack),
            other => bail!("{other} is not a condition function"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Template {
        Template::new(json!({
            "Parameters": {
                "Name": {"Type": "String"},
                "Bucket": {"Type": "String", "Default": ""},
                "Arn": {"Type": "String", "Default": "arn:aws:connect:us-east-1:111122223333:instance/abc-1"}
            },
            "Conditions": {
                "CreateBucket": {"Fn::Equals": [{"Ref": "Bucket"}, ""]},
                "KeepBucket": {"Fn::Not": [{"Condition": "CreateBucket"}]}
            },
            "Resources": {
                "Store": {"Type": "AWS::S3::Bucket", "Condition": "CreateBucket"},
                "Queue": {"Type": "AWS::SQS::Queue"},
                "Fn": {"Type": "AWS::Serverless::Function", "Properties": {
                    "FunctionName": {"Fn::Sub": "${Name}-Fn"},
                    "Environment": {"Variables": {
                        "BUCKET": {"Fn::If": ["CreateBucket", {"Ref": "Store"}, {"Ref": "Bucket"}]},
                        "INSTANCE": {"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "Arn"}]}]},
                        "SELF": {"Ref": "Fn.Alias"},
                        "QUEUE": {"Fn::GetAtt": ["Queue", "Arn"]},
                        "RULE": {"Fn::Sub": "${FnTick.Arn} ${!Literal} ${AWS::Region}"},
                        "GONE": {"Fn::If": ["KeepBucket", "x", {"Ref": "AWS::NoValue"}]},
                        "COUNT": 3
                    }},
                    "Events": {"Tick": {"Type": "Schedule"}}
                }}
            }
        }))
    }

    #[test]
    fn resolves_each_intrinsic_the_template_uses() {
        let params = BTreeMap::from([("Name".to_string(), "ACME".to_string())]);
        let resolved = template().resolve(&params).unwrap();
        let env = resolved.function_env("Fn").unwrap();
        let expected = [
            ("BUCKET", "scv-local-store-local".to_string()),
            ("INSTANCE", "abc-1".to_string()),
            ("SELF", format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:ACME-Fn:active")),
            ("QUEUE", format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:scv-local-Queue")),
            ("RULE", format!("arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/scv-local-FnTick ${{Literal}} {REGION}")),
            ("COUNT", "3".to_string()),
        ];
        for (name, value) in expected {
            assert_eq!(env.get(name), Some(&value), "{name}");
        }
        assert!(!env.contains_key("GONE"), "AWS::NoValue removes the key");
        assert!(resolved.resources.contains_key("Store"));
    }

    #[test]
    fn conditions_follow_the_parameters() {
        let params =
            BTreeMap::from([("Name".to_string(), "ACME".to_string()), ("Bucket".to_string(), "mine".to_string())]);
        let resolved = template().resolve(&params).unwrap();
        assert_eq!(resolved.function_env("Fn").unwrap().get("BUCKET").map(String::as_str), Some("mine"));
        assert_eq!(resolved.function_env("Fn").unwrap().get("GONE").map(String::as_str), Some("x"));
        assert!(!resolved.resources.contains_key("Store"), "a false Condition removes the resource");
    }

    #[test]
    fn unknown_names_and_missing_parameters_are_errors() {
        let err = template().resolve(&BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("parameter Name"), "{err}");
        let mut bad = template();
        bad.doc["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]["X"] = json!({"Ref": "Typo"});
        let err = bad.resolve(&BTreeMap::from([("Name".to_string(), "A".to_string())])).unwrap_err();
        assert!(format!("{err:#}").contains("Typo"), "{err:#}");
    }

    #[test]
    fn referenced_resource_reads_ref_alias_and_getatt() {
        let cases = [
            (json!({"Ref": "Fn.Alias"}), Some("Fn")),
            (json!({"Ref": "Queue"}), Some("Queue")),
            (json!({"Fn::GetAtt": ["Queue", "Arn"]}), Some("Queue")),
            (json!({"Fn::GetAtt": "Queue.Arn"}), Some("Queue")),
            (json!("arn:aws:sqs:us-east-1:1:q"), None),
            (json!({"Fn::Sub": "x"}), None),
        ];
        for (value, expected) in cases {
            assert_eq!(referenced_resource(&value).as_deref(), expected, "{value}");
        }
    }
}
