//! Log lines for CloudWatch: JSON, one object per line (or plain text when Lambda's advanced
//! logging controls ask for `Text`, see [`LogFormat`]), with the fields the documented Logs
//! Insights query reads (`context.contactId`, Implementation Guide ch. 6 "Query AWS Lambda Functions to
//! Analyze a Voice Call"; docs/functions.md#logging), and secrets scrubbed before anything is written.
//!
//! Two defences keep private keys, JWTs and access tokens out of the logs: only this project's
//! own crates log below WARN (the AWS SDK and HTTP stacks log request headers and decrypted
//! parameter values at TRACE), and every string value is scrubbed of PEM blocks, JWTs, bearer
//! credentials and Salesforce session ids before the line is written.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// `LOG_LEVEL`, with the names the official (winston) functions accept mapped onto tracing's,
/// and `AWS_LAMBDA_LOG_LEVEL` (Lambda's TRACE/DEBUG/INFO/WARN/ERROR/FATAL; FATAL logs errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "fatal" | "error" => Self::Error,
            "warn" | "warning" => Self::Warn,
            "info" => Self::Info,
            "http" | "verbose" | "debug" => Self::Debug,
            "silly" | "trace" => Self::Trace,
            _ => return None,
        })
    }

    pub fn filter(self) -> LevelFilter {
        match self {
            Self::Error => LevelFilter::ERROR,
            Self::Warn => LevelFilter::WARN,
            Self::Info => LevelFilter::INFO,
            Self::Debug => LevelFilter::DEBUG,
            Self::Trace => LevelFilter::TRACE,
        }
    }
}

/// The shape of a log line: `AWS_LAMBDA_LOG_FORMAT` (Lambda's advanced logging controls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line: the fields the documented Logs Insights query reads.
    #[default]
    Json,
    /// One human-readable line: `timestamp LEVEL category message key=value ...`.
    Text,
}

impl LogFormat {
    /// `JSON` or `Text`, in any case.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "text" => Some(Self::Text),
            _ => None,
        }
    }
}

/// Which targets log at which level: this project's crates at `level`, every other crate
/// (SDKs, HTTP, runtime) at WARN at the most.
pub fn targets(level: LogLevel, own_crates: &[&'static str]) -> Targets {
    let others = level.filter().min(LevelFilter::WARN);
    own_crates
        .iter()
        .chain(["scv_shared"].iter())
        .fold(Targets::new().with_default(others), |t, name| t.with_target(*name, level.filter()))
}

/// Installs the JSON logger on stdout for a function binary. `category` is the official
/// per-function category (e.g. `invokeTelephonyIntegrationApi`), `own_crate` the binary's crate
/// name (`env!("CARGO_CRATE_NAME")`).
pub fn init(category: &'static str, own_crate: &'static str, level: LogLevel) {
    init_with_format(category, own_crate, level, LogFormat::Json);
}

/// [`init`] with the line format chosen (`AWS_LAMBDA_LOG_FORMAT`).
pub fn init_with_format(category: &'static str, own_crate: &'static str, level: LogLevel, format: LogFormat) {
    let layer = JsonLayer::new(category, std::io::stdout).with_format(format).with_filter(targets(level, &[own_crate]));
    let subscriber = tracing_subscriber::registry().with(layer);
    // A second init (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// A `tracing` layer writing one line per event: a JSON object (the default) or text, scrubbed
/// of secrets either way.
pub struct JsonLayer<W> {
    category: &'static str,
    make_writer: W,
    format: LogFormat,
}

impl<W> JsonLayer<W> {
    pub fn new(category: &'static str, make_writer: W) -> Self {
        Self { category, make_writer, format: LogFormat::Json }
    }

    pub fn with_format(self, format: LogFormat) -> Self {
        Self { format, ..self }
    }
}

struct SpanFields(Map<String, Value>);

struct Visitor<'a>(&'a mut Map<String, Value>);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_string(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), Value::String(format!("{value:?}")));
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut Visitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
                values.record(&mut Visitor(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut Visitor(&mut fields));
        let (level, target) = (event.metadata().level(), event.metadata().target());
        let line = match self.format {
            LogFormat::Json => render(self.category, level, target, fields),
            LogFormat::Text => render_text(self.category, level, target, fields),
        };
        let mut writer = self.make_writer.make_writer();
        // A log line that cannot be written is dropped: logging must never fail an invocation.
        let _ = writer.write_all(line.as_bytes());
    }
}

/// One log line: `timestamp`, `level`, `category`, `message`, `contactId` and `requestId` at the
/// top, and every field (contactId included) under `context`.
fn render(category: &str, level: &Level, target: &str, mut fields: Map<String, Value>) -> String {
    let message = fields.remove("message").unwrap_or(Value::String(String::new()));
    let mut line = Map::new();
    line.insert(
        "timestamp".into(),
        Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    line.insert("level".into(), Value::String(level.to_string()));
    line.insert("category".into(), Value::String(category.to_string()));
    line.insert("message".into(), message);
    for key in ["contactId", "requestId"] {
        if let Some(value) = fields.get(key) {
            line.insert(key.into(), value.clone());
        }
    }
    line.insert("target".into(), Value::String(target.to_string()));
    if !fields.is_empty() {
        line.insert("context".into(), Value::Object(fields));
    }
    let mut value = Value::Object(line);
    scrub_value(&mut value);
    let mut text = value.to_string();
    text.push('\n');
    text
}

/// One text line: `timestamp LEVEL category message`, then `requestId`, `contactId` and every
/// other field as `key=value`, scrubbed of secrets like the JSON line.
fn render_text(category: &str, level: &Level, target: &str, mut fields: Map<String, Value>) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let message = fields.remove("message").map(|m| text(&m)).unwrap_or_default();
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut line = format!("{timestamp} {level} {category} {message}");
    for key in ["requestId", "contactId"] {
        if let Some(value) = fields.remove(key) {
            line.push_str(&format!(" {key}={}", text(&value)));
        }
    }
    for (key, value) in &fields {
        line.push_str(&format!(" {key}={}", text(value)));
    }
    line.push_str(&format!(" target={target}"));
    let mut line = scrub(&line).unwrap_or(line);
    line.push('\n');
    line
}

fn scrub_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(clean) = scrub(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => map.values_mut().for_each(scrub_value),
        _ => {}
    }
}

const REDACTED: &str = "[REDACTED]";

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Removes PEM blocks, JWTs, `Bearer` credentials and Salesforce session ids (`00D…!…`) from a
/// string. Returns `None` when there was nothing to remove.
pub fn scrub(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = secret_at(bytes, i) {
            out.push_str(REDACTED);
            changed = true;
            i = end;
            continue;
        }
        // Advance by one character (UTF-8 safe).
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    changed.then_some(out)
}

/// If a secret starts at `i`, the index just past it.
fn secret_at(bytes: &[u8], i: usize) -> Option<usize> {
    let rest = &bytes[i..];
    if rest.starts_with(b"-----BEGIN") {
        // To the end of the matching END line, or to the end of the text.
        let after_end = find(rest, b"-----END").map(|e| {
            let tail = &rest[e + 8..];
            find(tail, b"-----").map_or(rest.len(), |d| e + 8 + d + 5)
        });
        return Some(i + after_end.unwrap_or(rest.len()));
    }
    if rest.starts_with(b"eyJ") {
        // header.payload.signature, each base64url; the first two at least 10 long.
        let first = rest.iter().take_while(|b| is_b64url(**b)).count();
        if first >= 10 && rest.get(first) == Some(&b'.') {
            let second = rest[first + 1..].iter().take_while(|b| is_b64url(**b)).count();
            if second >= 10 && rest.get(first + 1 + second) == Some(&b'.') {
                let third = rest[first + 2 + second..].iter().take_while(|b| is_b64url(**b)).count();
                return Some(i + first + 2 + second + third);
            }
        }
    }
    for prefix in [&b"Bearer "[..], &b"bearer "[..]] {
        if rest.starts_with(prefix) {
            let token = rest[prefix.len()..].iter().take_while(|b| !b.is_ascii_whitespace() && **b != b'"').count();
            if token > 0 {
                return Some(i + prefix.len() + token);
            }
        }
    }
    // Salesforce access tokens: the org id, '!', then the session secret.
    if rest.starts_with(b"00D") && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
        let id = rest.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if (15..=18).contains(&id) && rest.get(id) == Some(&b'!') {
            let secret = rest[id + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                .count();
            if secret >= 8 {
                return Some(i + id + 1 + secret);
            }
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An in-memory log sink for tests: install it with [`capture`] and read the lines back.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect()
    }
}

pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(self.0.clone())
    }
}

/// Installs, once per process, a global subscriber that writes to memory at `level` (and, so
/// that test output stays readable, nowhere else). Later calls return the same sink.
pub fn capture(category: &'static str, own_crates: &[&'static str], level: LogLevel) -> CapturedLogs {
    static SINK: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    SINK.get_or_init(|| {
        let logs = CapturedLogs::default();
        let layer = JsonLayer::new(category, logs.clone()).with_filter(targets(level, own_crates));
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
        logs
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::subscriber::with_default;

    #[test]
    fn scrubs_pem_blocks_jwts_bearers_and_session_ids() {
        let pem = "key -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- tail";
        assert_eq!(scrub(pem).unwrap(), "key [REDACTED] tail");
        let unterminated = "-----BEGIN PRIVATE KEY-----\nMIIE";
        assert_eq!(scrub(unterminated).unwrap(), "[REDACTED]");
        let jwt = "token=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIwMEQifQ.c2lnbmF0dXJl; rest";
        assert_eq!(scrub(jwt).unwrap(), "token=[REDACTED]; rest");
        assert_eq!(scrub("Authorization: Bearer abc.def").unwrap(), "Authorization: [REDACTED]");
        let session = "got 00DXX0000000001!AQ4AQFakeSessionSecret.value end";
        assert_eq!(scrub(session).unwrap(), "got [REDACTED] end");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in
            ["contact 6b2c0e6d-33b4-4b1c-9a4e-0e0e0e0e0e0e", "org 00DXX0000000001 ok", "eyJ short.x.y", "héllo wörld"]
        {
            assert_eq!(scrub(text), None, "{text}");
        }
    }

    #[test]
    fn lines_carry_context_contact_id_and_no_secrets() {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::registry()
            .with(JsonLayer::new("testCategory", logs.clone()).with_filter(targets(LogLevel::Debug, &[])));
        with_default(subscriber, || {
            let span = tracing::info_span!("invocation", requestId = "req-1", contactId = tracing::field::Empty);
            let _guard = span.enter();
            span.record("contactId", "c-123");
            tracing::warn!(detail = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIwMEQifQ.sig", "calling Salesforce");
        });
        let lines = logs.lines();
        assert_eq!(lines.len(), 1);
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["category"], "testCategory");
        assert_eq!(line["message"], "calling Salesforce");
        assert_eq!(line["contactId"], "c-123");
        assert_eq!(line["requestId"], "req-1");
        assert_eq!(line["context"]["contactId"], "c-123");
        assert_eq!(line["context"]["detail"], "[REDACTED]");
    }

    #[test]
    fn text_lines_carry_the_same_fields_and_no_secrets() {
        let logs = CapturedLogs::default();
        let layer = JsonLayer::new("testCategory", logs.clone()).with_format(LogFormat::Text);
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(targets(LogLevel::Debug, &[])));
        with_default(subscriber, || {
            let span = tracing::info_span!("invocation", requestId = "req-1", contactId = tracing::field::Empty);
            let _guard = span.enter();
            span.record("contactId", "c-123");
            tracing::warn!(detail = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIwMEQifQ.sig", "calling Salesforce");
            tracing::info!(key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", attempt = 2, "read");
        });
        let lines = logs.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(serde_json::from_str::<Value>(&lines[0]).is_err(), "not JSON: {}", lines[0]);
        let first = lines[0].split_once(' ').map(|(_, rest)| rest).unwrap_or_default();
        assert!(first.starts_with("WARN testCategory calling Salesforce requestId=req-1 contactId=c-123"), "{first}");
        assert!(first.contains("detail=[REDACTED]"), "{first}");
        assert!(!lines[0].contains("eyJ"), "{}", lines[0]);
        assert!(lines[1].contains("INFO testCategory read") && lines[1].contains("attempt=2"), "{}", lines[1]);
        assert!(lines[1].contains("key=[REDACTED]") && !lines[1].contains("MIIE"), "{}", lines[1]);
    }

    #[test]
    fn formats_and_levels_parse_lambda_names() {
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("Text"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("TEXT"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("xml"), None);
        for (name, level) in [
            ("TRACE", LogLevel::Trace),
            ("DEBUG", LogLevel::Debug),
            ("INFO", LogLevel::Info),
            ("WARN", LogLevel::Warn),
            ("ERROR", LogLevel::Error),
            ("FATAL", LogLevel::Error),
        ] {
            assert_eq!(LogLevel::parse(name), Some(level), "{name}");
        }
    }

    #[test]
    fn other_crates_are_held_at_warn() {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::registry()
            .with(JsonLayer::new("c", logs.clone()).with_filter(targets(LogLevel::Trace, &["my_fn"])));
        with_default(subscriber, || {
            tracing::debug!(target: "aws_smithy_runtime::client", "request headers");
            tracing::warn!(target: "hyper_util", "connection reset");
            tracing::trace!(target: "my_fn::handler", "own trace");
            tracing::debug!(target: "scv_shared::scrt", "own debug");
        });
        let messages: Vec<String> = logs
            .lines()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["message"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(messages, vec!["connection reset", "own trace", "own debug"]);
    }
}
