//! REST-side org data: stored sObject records (Account, Contact, Case, User, custom objects), published
//! platform events, and the VoiceCall projection of the Telephony API's records. Rows are JSON maps keyed
//! by canonical field names; derived fields (Contact.Name, Case.IsClosed, Case.ContactPhone, ...) and the
//! whole VoiceCall record are computed when read, so they cannot drift from their sources.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::RestError;
use crate::schema::{self, CLOSED_STATUSES, FieldType, ObjectDef, ObjectKind};
use crate::state::{OrgState, VoiceCall};

/// A stored record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoredRecord {
    pub id: String,
    /// Writable fields as stored (canonical names; `__c` fields as first written).
    pub fields: Map<String, Value>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub created_by_id: Option<String>,
    pub modified_by_id: Option<String>,
}

/// The records of one object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// Canonical object name.
    pub name: String,
    pub records: Vec<StoredRecord>,
}

/// Created / last-modified instants of a Telephony API VoiceCall record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecordDates {
    pub created_ms: i64,
    pub modified_ms: i64,
    /// `update_count` when last stamped, to notice telephony updates.
    pub seen_updates: u32,
}

/// Everything the REST side stores in the org.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RestData {
    /// Stored records by lower-case object name.
    pub tables: BTreeMap<String, Table>,
    /// Published platform events, oldest first (REST shape, with `attributes`).
    pub platform_events: Vec<Value>,
    /// VoiceCall dates by 0LQ id.
    pub voice_call_dates: BTreeMap<String, RecordDates>,
    pub next_case_number: u64,
    /// Auto-number counters by object (ServiceAppointment.AppointmentNumber, ...).
    #[serde(default)]
    pub auto_numbers: BTreeMap<String, u64>,
    /// Connect API conversation uploads and the conversations they stored.
    #[serde(default)]
    pub conversations: super::conversations::ConversationData,
}

/// Salesforce's REST datetime format: `2026-11-21T09:15:02.000+0000`.
pub fn format_datetime(ms: i64) -> String {
    let t = Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now);
    format!("{}+0000", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// Parses a datetime value as Salesforce accepts them (ISO-8601 with `Z`, `+00:00` or `+0000`, or a
/// date), into epoch ms.
pub fn parse_datetime(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// The instant of a row value (datetime string or date), if it is one.
pub fn value_instant(value: &Value) -> Option<i64> {
    value.as_str().and_then(parse_datetime)
}

/// The first 15 characters of an 18-character id (ids compare on their 15-character form).
pub fn id15(id: &str) -> &str {
    if id.len() == 18 && id.is_ascii() { &id[..15] } else { id }
}

/// `/services/data/vNN.N/sobjects/Type/Id`.
pub fn record_url(version: &str, object: &str, id: &str) -> String {
    format!("/services/data/v{version}/sobjects/{object}/{id}")
}

/// `{"type": ..., "url": ...}`.
pub fn attributes(version: &str, object: &str, id: &str) -> Value {
    json!({"type": object, "url": record_url(version, object, id)})
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl RestData {
    /// The table of an object, if any record was ever stored.
    pub fn table(&self, object: &str) -> Option<&Table> {
        self.tables.get(&object.to_ascii_lowercase())
    }

    /// The canonical name of an object: the registry's, or for a custom object the first spelling stored.
    pub fn canonical_object(&self, def: &ObjectDef) -> String {
        if def.custom {
            self.table(&def.name).map_or_else(|| def.name.clone(), |t| t.name.clone())
        } else {
            def.name.clone()
        }
    }

    /// Stamps created / modified dates of VoiceCall records created or updated by the Telephony API.
    pub fn stamp_voice_calls(&mut self, calls: &[VoiceCall]) {
        let now = now_ms();
        for call in calls {
            let dates = self.voice_call_dates.entry(call.id.clone()).or_insert_with(|| RecordDates {
                created_ms: now,
                modified_ms: now,
                seen_updates: call.update_count,
            });
            if dates.seen_updates != call.update_count {
                dates.seen_updates = call.update_count;
                dates.modified_ms = now;
            }
        }
    }
}

fn time_field(call: &VoiceCall, key: &str) -> Value {
    call.fields
        .get(key)
        .and_then(Value::as_str)
        .and_then(parse_datetime)
        .map_or(Value::Null, |ms| Value::String(format_datetime(ms)))
}

fn int_field(call: &VoiceCall, key: &str) -> Value {
    call.fields.get(key).filter(|v| v.is_i64() || v.is_u64()).cloned().unwrap_or(Value::Null)
}

/// The REST view of a Telephony API VoiceCall record. `CustomerHoldDuration`, `LongestHoldDuration` and
/// `NumberOfHolds` stay null until an update sets `totalHoldDuration`, `longestHoldDuration`,
/// `numberOfHolds` (the CTR sync), which is what the Retry CTR Sync query relies on.
pub fn project_voice_call(call: &VoiceCall, dates: Option<&RecordDates>, calls: &[VoiceCall]) -> Map<String, Value> {
    let created = dates.map(|d| d.created_ms).or(call.start_time_ms).unwrap_or(0);
    let modified = dates.map(|d| d.modified_ms).unwrap_or(created);
    let ms = |v: Option<i64>| v.map_or(Value::Null, |ms| Value::String(format_datetime(ms)));
    let duration = match (call.start_time_ms, call.end_time_ms) {
        (Some(s), Some(e)) if e >= s => json!((e - s) / 1000),
        _ => Value::Null,
    };
    let call_type = match call.initiation_method.as_deref() {
        Some(m) if m.eq_ignore_ascii_case("transfer") => "Transfer",
        Some(m) if m.eq_ignore_ascii_case("outbound") => "Outbound",
        Some(m) if m.eq_ignore_ascii_case("callback") => "Callback",
        _ => "Inbound",
    };
    let parent = call
        .parent_voice_call_id
        .as_deref()
        .filter(|p| calls.iter().any(|c| c.id == *p))
        .map_or(Value::Null, |p| Value::String(p.to_owned()));
    let queue = call
        .fields
        .get("queue")
        .and_then(Value::as_str)
        .or(call.queue.as_deref())
        .map_or(Value::Null, |q| Value::String(q.to_owned()));
    let disposition = if call.call_disposition.is_empty() { "new".to_owned() } else { call.call_disposition.clone() };
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let mut row = Map::new();
    for (key, value) in [
        ("Id", Value::String(call.id.clone())),
        ("IsDeleted", Value::Bool(false)),
        ("OwnerId", Value::Null),
        ("CreatedDate", Value::String(format_datetime(created))),
        ("CreatedById", Value::Null),
        ("LastModifiedDate", Value::String(format_datetime(modified))),
        ("LastModifiedById", Value::Null),
        ("SystemModstamp", Value::String(format_datetime(modified))),
        ("VendorCallKey", Value::String(call.vendor_call_key.clone())),
        ("CallType", Value::String(call_type.into())),
        ("CallOrigin", text(&call.call_origin)),
        ("FromPhoneNumber", text(&call.from)),
        ("ToPhoneNumber", text(&call.to)),
        ("CallStartDateTime", ms(call.start_time_ms)),
        ("CallEndDateTime", ms(call.end_time_ms)),
        ("CallDurationInSeconds", duration),
        ("CallAcceptDateTime", time_field(call, "acceptTime")),
        ("CallQueuedDateTime", time_field(call, "enqueueTime")),
        ("CustomerHoldDuration", int_field(call, "totalHoldDuration")),
        ("LongestHoldDuration", int_field(call, "longestHoldDuration")),
        ("NumberOfHolds", int_field(call, "numberOfHolds")),
        ("CallDisposition", Value::String(disposition)),
        ("QueueName", queue),
        ("ParentVoiceCallId", parent.clone()),
        ("PreviousCallId", parent),
    ] {
        row.insert(key.to_owned(), value);
    }
    for (key, value) in &call.call_attributes {
        if schema::is_custom_name(key) {
            row.insert(key.clone(), value.clone());
        }
    }
    row
}

/// A field of a row, by canonical name, with a case-insensitive fallback (custom fields).
pub fn get<'a>(row: &'a Map<String, Value>, name: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    row.get(name).or_else(|| row.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)).unwrap_or(&NULL)
}

fn find_stored<'a>(org: &'a OrgState, object: &str, id: &str) -> Option<&'a StoredRecord> {
    org.rest.table(object)?.records.iter().find(|r| r.id == id15(id))
}

/// The full row of a stored record: every schema field (null when unset), derived fields, custom fields.
pub fn stored_row(org: &OrgState, def: &ObjectDef, record: &StoredRecord) -> Map<String, Value> {
    let mut row = Map::new();
    for field in &def.fields {
        let value = match field.name.as_str() {
            "Id" => Value::String(record.id.clone()),
            "IsDeleted" => Value::Bool(false),
            "CreatedDate" => Value::String(format_datetime(record.created_ms)),
            "LastModifiedDate" | "SystemModstamp" => Value::String(format_datetime(record.modified_ms)),
            "CreatedById" => record.created_by_id.clone().map_or(Value::Null, Value::String),
            "LastModifiedById" => record.modified_by_id.clone().map_or(Value::Null, Value::String),
            _ => record.fields.get(&field.name).cloned().unwrap_or(Value::Null),
        };
        row.insert(field.name.clone(), value);
    }
    match def.name.as_str() {
        "Contact" | "User" => {
            let first = record.fields.get("FirstName").and_then(Value::as_str);
            let last = record.fields.get("LastName").and_then(Value::as_str);
            let name = [first, last].into_iter().flatten().collect::<Vec<_>>().join(" ");
            row.insert("Name".into(), Value::String(name));
        }
        "Case" => {
            let status = record.fields.get("Status").and_then(Value::as_str);
            let closed = status.is_some_and(|s| CLOSED_STATUSES.iter().any(|c| c.eq_ignore_ascii_case(s)));
            row.insert("IsClosed".into(), Value::Bool(closed));
            let contact =
                record.fields.get("ContactId").and_then(Value::as_str).and_then(|id| find_stored(org, "Contact", id));
            for (field, from) in
                [("ContactPhone", "Phone"), ("ContactMobile", "MobilePhone"), ("ContactEmail", "Email")]
            {
                let value = contact.and_then(|c| c.fields.get(from)).cloned().unwrap_or(Value::Null);
                row.insert(field.into(), value);
            }
            if !closed {
                row.insert("ClosedDate".into(), Value::Null);
            }
        }
        _ => {}
    }
    for (key, value) in &record.fields {
        if !row.contains_key(key) {
            row.insert(key.clone(), value.clone());
        }
    }
    row
}

/// Every row of a queryable object, in creation order.
pub fn rows(org: &OrgState, def: &ObjectDef) -> Vec<Map<String, Value>> {
    match def.kind {
        ObjectKind::VoiceCall => org
            .voice_calls
            .iter()
            .map(|c| project_voice_call(c, org.rest.voice_call_dates.get(&c.id), &org.voice_calls))
            .collect(),
        ObjectKind::Stored => org
            .rest
            .table(&def.name)
            .map(|t| t.records.iter().map(|r| stored_row(org, def, r)).collect())
            .unwrap_or_default(),
        ObjectKind::PlatformEvent => Vec::new(),
    }
}

/// A record by id, with its object (for relationships and `GET /sobjects/{Object}/{id}`).
pub fn find_row(org: &OrgState, id: &str) -> Option<(ObjectDef, Map<String, Value>)> {
    let id = id15(id);
    if id.starts_with(crate::state::VOICE_CALL_PREFIX) {
        let call = org.voice_calls.iter().find(|c| c.id == id)?;
        let def = schema::object("VoiceCall")?;
        let row = project_voice_call(call, org.rest.voice_call_dates.get(id), &org.voice_calls);
        return Some((def, row));
    }
    for table in org.rest.tables.values() {
        if let Some(record) = table.records.iter().find(|r| r.id == id) {
            let mut def = schema::object(&table.name)?;
            def.name = table.name.clone();
            return Some((def.clone(), stored_row(org, &def, record)));
        }
    }
    None
}

/// Renders a full row as `GET /sobjects/{Object}/{id}` answers: `attributes` first.
pub fn render_full(version: &str, object: &str, row: &Map<String, Value>) -> Value {
    let id = row.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert("attributes".into(), attributes(version, object, id));
    for (key, value) in row {
        out.insert(key.clone(), value.clone());
    }
    Value::Object(out)
}

/// Converts a request value to the stored form of a field, or explains why it cannot.
fn coerce(object: &str, field: &schema::Field, value: &Value) -> Result<Value, RestError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let bad = |expected: &str| {
        RestError::new(
            400,
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {expected} from {} value {value} for field {} on {object}",
                match value {
                    Value::String(_) => "VALUE_STRING",
                    Value::Number(_) => "VALUE_NUMBER",
                    Value::Bool(_) => "VALUE_BOOLEAN",
                    Value::Array(_) => "START_ARRAY",
                    Value::Object(_) => "START_OBJECT",
                    Value::Null => "VALUE_NULL",
                },
                field.name
            ),
        )
    };
    let out = match field.ty {
        FieldType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(bad("boolean")),
        },
        FieldType::Int | FieldType::Double => {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .ok_or_else(|| bad("double"))?;
            if field.ty == FieldType::Int {
                if number.fract() != 0.0 {
                    return Err(bad("int"));
                }
                json!(number as i64)
            } else {
                json!(number)
            }
        }
        FieldType::DateTime => {
            let text = value.as_str().ok_or_else(|| bad("datetime"))?;
            let ms = parse_datetime(text).ok_or_else(|| {
                RestError::new(
                    400,
                    "JSON_PARSER_ERROR",
                    format!(
                        "Cannot deserialize instance of datetime from VALUE_STRING value {text} for field {} on {object}: \
                         use ISO-8601 such as 2026-11-21T09:15:02.000Z",
                        field.name
                    ),
                )
            })?;
            Value::String(format_datetime(ms))
        }
        FieldType::Date => {
            let text = value.as_str().ok_or_else(|| bad("date"))?;
            let date =
                NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d").map_err(|_| bad("date"))?;
            Value::String(date.to_string())
        }
        FieldType::Any => match value {
            Value::Array(_) | Value::Object(_) => return Err(bad("a field value")),
            other => other.clone(),
        },
        _ => match value {
            Value::String(s) => Value::String(s.clone()),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            _ => return Err(bad("string")),
        },
    };
    if let (Some(allowed), Some(text)) = (field.restricted, out.as_str())
        && !allowed.contains(&text)
    {
        return Err(RestError::new(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            format!(
                "{}: bad value for restricted picklist field: {text} (allowed: {})",
                field.name,
                allowed.join(", ")
            ),
        )
        .with_fields(vec![field.name.clone()]));
    }
    Ok(out)
}

/// Validates a create / update body against the object's fields; returns canonical name -> stored value.
pub fn validate_fields(
    org: &OrgState,
    def: &ObjectDef,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<Map<String, Value>, RestError> {
    let object = org.rest.canonical_object(def);
    let mut out = Map::new();
    let mut read_only = Vec::new();
    for (key, value) in body {
        if key == "attributes" {
            continue;
        }
        let Some(field) = def.field(key) else {
            return Err(RestError::new(
                400,
                "INVALID_FIELD",
                format!("No such column '{key}' on sobject of type {object}"),
            )
            .with_fields(vec![key.clone()]));
        };
        if !field.writable {
            read_only.push(field.name.clone());
            continue;
        }
        let name = if field.ty == FieldType::Any {
            // Keep the spelling already stored for this custom field, if any.
            org.rest
                .table(&object)
                .and_then(|t| {
                    t.records.iter().flat_map(|r| r.fields.keys()).find(|k| k.eq_ignore_ascii_case(key)).cloned()
                })
                .unwrap_or_else(|| key.clone())
        } else {
            field.name.clone()
        };
        let stored = coerce(&object, &field, value)?;
        // Polymorphic references (no `references`) are not checked.
        if let (FieldType::Reference, Some(id), Some(target)) = (field.ty, stored.as_str(), field.references) {
            let exists = find_row(org, id).is_some_and(|(d, _)| d.name.eq_ignore_ascii_case(target));
            if !exists && target != "User" {
                return Err(RestError::new(
                    400,
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("invalid cross reference id: {} = {id}", field.name),
                )
                .with_fields(vec![field.name.clone()]));
            }
        }
        out.insert(name, stored);
    }
    if !read_only.is_empty() {
        return Err(RestError::new(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                read_only.join(", ")
            ),
        )
        .with_fields(read_only));
    }
    let missing: Vec<String> = def
        .fields
        .iter()
        .filter(|f| f.required && f.writable)
        .filter(|f| {
            let given = out.get(&f.name);
            if creating {
                given.is_none_or(|v| v.is_null() || v.as_str() == Some(""))
            } else {
                given.is_some_and(|v| v.is_null() || v.as_str() == Some(""))
            }
        })
        .map(|f| f.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(RestError::new(
            400,
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
        )
        .with_fields(missing));
    }
    Ok(out)
}

/// Creates a stored record; returns its id.
pub fn create(org: &mut OrgState, def: &ObjectDef, mut fields: Map<String, Value>, user_id: Option<&str>) -> String {
    for field in &def.fields {
        if let Some(default) = field.default
            && !fields.contains_key(&field.name)
        {
            let value = match field.ty {
                FieldType::Boolean => Value::Bool(default == "true"),
                _ => Value::String(default.to_owned()),
            };
            fields.insert(field.name.clone(), value);
        }
    }
    if def.field("OwnerId").is_some()
        && !fields.contains_key("OwnerId")
        && let Some(user) = user_id
    {
        fields.insert("OwnerId".into(), Value::String(user.to_owned()));
    }
    if def.name == "Case" {
        org.rest.next_case_number += 1;
        fields.insert("CaseNumber".into(), Value::String(format!("{:08}", 1000 + org.rest.next_case_number)));
    }
    if let Some((_, field, prefix)) = schema::AUTO_NUMBERS.iter().find(|(object, ..)| *object == def.name) {
        let counter = org.rest.auto_numbers.entry(def.name.clone()).or_default();
        *counter += 1;
        fields.insert((*field).to_owned(), Value::String(format!("{prefix}{:04}", *counter)));
    }
    let id = org.new_id(def.key_prefix);
    let now = now_ms();
    let key = def.name.to_ascii_lowercase();
    let table = org.rest.tables.entry(key).or_insert_with(|| Table { name: def.name.clone(), records: Vec::new() });
    table.records.push(StoredRecord {
        id: id.clone(),
        fields,
        created_ms: now,
        modified_ms: now,
        created_by_id: user_id.map(str::to_owned),
        modified_by_id: user_id.map(str::to_owned),
    });
    id
}

/// Updates a stored record; false when there is no such record.
pub fn update(
    org: &mut OrgState,
    def: &ObjectDef,
    id: &str,
    fields: Map<String, Value>,
    user_id: Option<&str>,
) -> bool {
    let Some(table) = org.rest.tables.get_mut(&def.name.to_ascii_lowercase()) else {
        return false;
    };
    let Some(record) = table.records.iter_mut().find(|r| r.id == id15(id)) else {
        return false;
    };
    for (key, value) in fields {
        if value.is_null() {
            record.fields.remove(&key);
        } else {
            record.fields.insert(key, value);
        }
    }
    if def.name == "Case" {
        let closed = record
            .fields
            .get("Status")
            .and_then(Value::as_str)
            .is_some_and(|s| CLOSED_STATUSES.iter().any(|c| c.eq_ignore_ascii_case(s)));
        if closed && !record.fields.contains_key("ClosedDate") {
            record.fields.insert("ClosedDate".into(), Value::String(format_datetime(now_ms())));
        } else if !closed {
            record.fields.remove("ClosedDate");
        }
    }
    record.modified_ms = now_ms().max(record.modified_ms);
    record.modified_by_id = user_id.map(str::to_owned).or(record.modified_by_id.take());
    true
}

/// Deletes a stored record; false when there is no such record.
pub fn delete(org: &mut OrgState, def: &ObjectDef, id: &str) -> bool {
    let Some(table) = org.rest.tables.get_mut(&def.name.to_ascii_lowercase()) else {
        return false;
    };
    let before = table.records.len();
    table.records.retain(|r| r.id != id15(id));
    table.records.len() != before
}

/// The User record of a username, created on first use (OAuth sessions run as this user).
pub fn ensure_user(org: &mut OrgState, username: &str) -> String {
    if let Some(table) = org.rest.table("User")
        && let Some(user) = table.records.iter().find(|r| {
            r.fields.get("Username").and_then(Value::as_str).is_some_and(|u| u.eq_ignore_ascii_case(username))
        })
    {
        return user.id.clone();
    }
    let Some(def) = schema::object("User") else {
        return String::new();
    };
    let local = username.split('@').next().unwrap_or(username);
    let mut fields = Map::new();
    fields.insert("Username".into(), json!(username));
    fields.insert("LastName".into(), json!(local));
    if username.contains('@') {
        fields.insert("Email".into(), json!(username));
    }
    create(org, &def, fields, None)
}

/// Ages (or otherwise moves) the CreatedDate of a VoiceCall; false when there is no such call.
pub fn set_voice_call_created(org: &mut OrgState, id_or_key: &str, at: DateTime<Utc>) -> bool {
    let Some(call) = org.find_call(id_or_key) else {
        return false;
    };
    let (id, updates) = (call.id.clone(), call.update_count);
    let ms = at.timestamp_millis();
    let dates = org.rest.voice_call_dates.entry(id).or_insert_with(|| RecordDates {
        created_ms: ms,
        modified_ms: ms,
        seen_updates: updates,
    });
    dates.created_ms = ms;
    dates.modified_ms = dates.modified_ms.max(ms);
    true
}

/// `Utc` formatting helper for event dates (RFC 3339 with milliseconds).
pub fn rfc3339_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_format_round_trips() {
        let ms = 1_795_252_502_000; // 2026-11-21T09:15:02Z
        assert_eq!(format_datetime(ms), "2026-11-21T09:15:02.000+0000");
        assert_eq!(parse_datetime("2026-11-21T09:15:02.000+0000"), Some(ms));
        assert_eq!(parse_datetime("2026-11-21T09:15:02Z"), Some(ms));
        assert_eq!(parse_datetime("2026-11-21T10:15:02+01:00"), Some(ms));
        assert_eq!(parse_datetime("2026-11-21"), Some(ms - (9 * 3600 + 15 * 60 + 2) * 1000));
        assert_eq!(parse_datetime("soon"), None);
        assert_eq!(id15("001EM0000000001AAA"), "001EM0000000001");
    }

    #[test]
    fn voice_call_projection_keeps_hold_duration_null_until_set() {
        let mut call = VoiceCall {
            id: "0LQEM0000000001".into(),
            vendor_call_key: "k1".into(),
            from: Some("+1".into()),
            initiation_method: Some("Inbound".into()),
            start_time_ms: Some(1_704_103_200_000),
            call_disposition: "in-progress".into(),
            ..VoiceCall::default()
        };
        call.call_attributes.insert("Reason__c".into(), json!("x"));
        call.call_attributes.insert("sf_realtime_transcription_status".into(), json!("passed"));
        let row = project_voice_call(&call, None, &[]);
        assert_eq!(row["CustomerHoldDuration"], Value::Null);
        assert_eq!(row["CallType"], "Inbound");
        assert_eq!(row["CallStartDateTime"], "2024-01-01T10:00:00.000+0000");
        assert_eq!(row["CallDurationInSeconds"], Value::Null);
        assert_eq!(row["Reason__c"], "x");
        assert!(row.get("sf_realtime_transcription_status").is_none());
        call.fields.insert("totalHoldDuration".into(), json!(0));
        call.fields.insert("acceptTime".into(), json!("2024-01-01T10:00:20Z"));
        call.end_time_ms = Some(1_704_103_500_000);
        let row = project_voice_call(&call, None, &[]);
        assert_eq!(row["CustomerHoldDuration"], 0);
        assert_eq!(row["CallDurationInSeconds"], 300);
        assert_eq!(row["CallAcceptDateTime"], "2024-01-01T10:00:20.000+0000");
    }
}
