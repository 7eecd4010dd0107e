//! Running SOQL queries and SOSL searches over the org's rows.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::RestError;
use super::store::{self, attributes, find_row, get, id15, value_instant};
use crate::schema::{self, Field, FieldType, ObjectDef, ObjectKind};
use crate::soql::{self, CmpOp, Cond, Literal, Path};
use crate::sosl::{self, Scope};
use crate::state::OrgState;

/// One relationship hop of a field path.
#[derive(Debug, Clone)]
struct Hop {
    /// Canonical relationship name (`Account`).
    relationship: String,
    /// The reference field it goes through (`AccountId`).
    reference: String,
}

/// A field path checked against the schema.
#[derive(Debug, Clone)]
struct Resolved {
    hops: Vec<Hop>,
    field: Field,
}

fn no_such_column(name: &str, object: &str) -> RestError {
    RestError::new(
        400,
        "INVALID_FIELD",
        format!(
            "No such column '{name}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name."
        ),
    )
}

fn resolve(def: &ObjectDef, path: &Path) -> Result<Resolved, RestError> {
    // A path may start with the queried object's own name (`Account.Name` in `FROM Account`).
    let path: &[String] = match path.split_first() {
        Some((first, rest))
            if !rest.is_empty() && first.eq_ignore_ascii_case(&def.name) && def.relationship(first).is_none() =>
        {
            rest
        }
        _ => path,
    };
    let mut hops = Vec::new();
    let mut current = def.clone();
    for (i, segment) in path.iter().enumerate() {
        if i + 1 == path.len() {
            let field = current.field(segment).ok_or_else(|| no_such_column(segment, &current.name))?;
            return Ok(Resolved { hops, field });
        }
        let reference = current.relationship(segment).ok_or_else(|| {
            RestError::new(
                400,
                "INVALID_FIELD",
                format!(
                    "Didn't understand relationship '{segment}' in field path '{}' on entity '{}'. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name.",
                    path.join("."),
                    current.name
                ),
            )
        })?;
        let target =
            reference.references.and_then(schema::object).ok_or_else(|| no_such_column(segment, &current.name))?;
        hops.push(Hop {
            relationship: reference.relationship.unwrap_or_default().to_owned(),
            reference: reference.name.clone(),
        });
        current = target;
    }
    Err(no_such_column("", &def.name))
}

fn value_at(org: &OrgState, row: &Map<String, Value>, path: &Resolved) -> Value {
    let mut owned;
    let mut current = row;
    for hop in &path.hops {
        let Some((_, next)) = get(current, &hop.reference).as_str().and_then(|id| find_row(org, id)) else {
            return Value::Null;
        };
        owned = next;
        current = &owned;
    }
    get(current, &path.field.name).clone()
}

fn render_path(
    org: &OrgState,
    version: &str,
    row: &Map<String, Value>,
    path: &Resolved,
    depth: usize,
    out: &mut Map<String, Value>,
) {
    let Some(hop) = path.hops.get(depth) else {
        out.insert(path.field.name.clone(), get(row, &path.field.name).clone());
        return;
    };
    let target = get(row, &hop.reference).as_str().and_then(|id| find_row(org, id));
    match target {
        None => {
            out.entry(hop.relationship.clone()).or_insert(Value::Null);
        }
        Some((def, target_row)) => {
            let id = get(&target_row, "Id").as_str().unwrap_or_default().to_owned();
            let entry = out.entry(hop.relationship.clone()).or_insert(Value::Null);
            if entry.is_null() {
                *entry = json!({"attributes": attributes(version, &def.name, &id)});
            }
            if let Some(nested) = entry.as_object_mut() {
                render_path(org, version, &target_row, path, depth + 1, nested);
            }
        }
    }
}

fn render(org: &OrgState, version: &str, object: &str, row: &Map<String, Value>, paths: &[Resolved]) -> Value {
    let id = get(row, "Id").as_str().unwrap_or_default();
    let mut out = Map::new();
    out.insert("attributes".into(), attributes(version, object, id));
    for path in paths {
        render_path(org, version, row, path, 0, &mut out);
    }
    Value::Object(out)
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn ordered(ordering: Option<Ordering>, op: CmpOp) -> bool {
    let Some(o) = ordering else { return false };
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }
}

fn compare(value: &Value, ty: FieldType, op: CmpOp, literal: &Literal, now: DateTime<Utc>) -> bool {
    if *literal == Literal::Null {
        return match op {
            CmpOp::Eq => value.is_null(),
            CmpOp::Ne => !value.is_null(),
            _ => false,
        };
    }
    if value.is_null() {
        return op == CmpOp::Ne;
    }
    match literal {
        Literal::Date(_) | Literal::DateTime(_) | Literal::DateFn(..) => {
            let (Some(v), Some((start, end))) = (value_instant(value), soql::date_range(literal, now)) else {
                return false;
            };
            let (s, e) = (start.timestamp_millis(), end.timestamp_millis());
            match op {
                CmpOp::Eq => s <= v && v < e,
                CmpOp::Ne => !(s <= v && v < e),
                CmpOp::Lt => v < s,
                CmpOp::Le => v < e,
                CmpOp::Gt => v >= e,
                CmpOp::Ge => v >= s,
            }
        }
        Literal::Num(n) => ordered(as_f64(value).and_then(|v| v.partial_cmp(n)), op),
        Literal::Bool(b) => {
            let v = match value {
                Value::Bool(v) => Some(*v),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            match op {
                CmpOp::Eq => v == Some(*b),
                CmpOp::Ne => v != Some(*b),
                _ => false,
            }
        }
        Literal::Str(s) => {
            let Some(text) = as_text(value) else {
                return false;
            };
            if matches!(ty, FieldType::Id | FieldType::Reference) {
                return ordered(Some(id15(&text).cmp(id15(&s.value))), op);
            }
            ordered(Some(text.to_lowercase().cmp(&s.value.to_lowercase())), op)
        }
        Literal::Null => false,
    }
}

fn eval(org: &OrgState, def: &ObjectDef, row: &Map<String, Value>, cond: &Cond, now: DateTime<Utc>) -> bool {
    let at = |path: &Path| resolve(def, path).ok().map(|r| (value_at(org, row, &r), r.field.ty));
    match cond {
        Cond::And(items) => items.iter().all(|c| eval(org, def, row, c, now)),
        Cond::Or(items) => items.iter().any(|c| eval(org, def, row, c, now)),
        Cond::Not(inner) => !eval(org, def, row, inner, now),
        Cond::Cmp(path, op, literal) => at(path).is_some_and(|(value, ty)| compare(&value, ty, *op, literal, now)),
        Cond::Like(path, pattern) => {
            at(path).is_some_and(|(value, _)| as_text(&value).is_some_and(|text| soql::like(&text, &pattern.pattern)))
        }
        Cond::In(path, values, negated) => at(path).is_some_and(|(value, ty)| {
            let found = values.iter().any(|literal| compare(&value, ty, CmpOp::Eq, literal, now));
            found != *negated
        }),
        // Replaced by `In` before rows are evaluated (see `materialize`).
        Cond::InQuery(..) => false,
    }
}

fn is_id(ty: FieldType) -> bool {
    matches!(ty, FieldType::Id | FieldType::Reference)
}

/// Checks a semi-join: both sides must be ids (the sub-query's field "must be a foreign key field" or Id).
fn check_semi_join(org: &OrgState, def: &ObjectDef, path: &Path, sub: &soql::Query) -> Result<(), RestError> {
    let left = resolve(def, path)?;
    if !is_id(left.field.ty) {
        return Err(RestError::new(
            400,
            "MALFORMED_QUERY",
            format!("semi-join: '{}' must be an Id or reference field to be compared with a sub-query", path.join(".")),
        ));
    }
    let sub_def = queryable(org, &sub.object)?;
    let selected = sub.fields.first().map(|p| resolve(&sub_def, p)).transpose()?;
    if !selected.as_ref().is_some_and(|r| is_id(r.field.ty)) {
        return Err(RestError::new(
            400,
            "MALFORMED_QUERY",
            format!("semi-join sub-query on {}: the selected field must be an Id or reference field", sub_def.name),
        ));
    }
    if let Some(filter) = &sub.filter {
        check_cond(org, &sub_def, filter)?;
    }
    Ok(())
}

/// Runs every semi-join sub-query once and replaces it by the `IN` list of its values.
fn materialize(org: &OrgState, cond: Cond, now: DateTime<Utc>) -> Result<Cond, RestError> {
    Ok(match cond {
        Cond::InQuery(path, sub, negated) => {
            let def = queryable(org, &sub.object)?;
            let field =
                sub.fields.first().map(|p| resolve(&def, p)).transpose()?.ok_or_else(|| {
                    RestError::new(400, "MALFORMED_QUERY", "a semi-join sub-query must select one field")
                })?;
            let values = store::rows(org, &def)
                .into_iter()
                .filter(|row| sub.filter.as_ref().is_none_or(|c| eval(org, &def, row, c, now)))
                .filter_map(|row| as_text(&value_at(org, &row, &field)))
                .map(|value| Literal::Str(soql::StrLit { pattern: value.clone(), value }))
                .collect();
            Cond::In(path, values, negated)
        }
        Cond::And(items) => Cond::And(items.into_iter().map(|c| materialize(org, c, now)).collect::<Result<_, _>>()?),
        Cond::Or(items) => Cond::Or(items.into_iter().map(|c| materialize(org, c, now)).collect::<Result<_, _>>()?),
        Cond::Not(inner) => Cond::Not(Box::new(materialize(org, *inner, now)?)),
        other => other,
    })
}

fn check_cond(org: &OrgState, def: &ObjectDef, cond: &Cond) -> Result<(), RestError> {
    match cond {
        Cond::And(items) | Cond::Or(items) => items.iter().try_for_each(|c| check_cond(org, def, c)),
        Cond::Not(inner) => check_cond(org, def, inner),
        Cond::Cmp(path, ..) | Cond::Like(path, _) | Cond::In(path, ..) => resolve(def, path).map(|_| ()),
        Cond::InQuery(path, sub, _) => check_semi_join(org, def, path, sub),
    }
}

fn order_values(a: &Value, b: &Value, ty: FieldType) -> Ordering {
    match ty {
        FieldType::DateTime | FieldType::Date => value_instant(a).cmp(&value_instant(b)),
        FieldType::Int | FieldType::Double => as_f64(a).partial_cmp(&as_f64(b)).unwrap_or(Ordering::Equal),
        FieldType::Boolean => a.as_bool().cmp(&b.as_bool()),
        _ => match (as_f64(a), as_f64(b), a, b) {
            (Some(x), Some(y), Value::Number(_), Value::Number(_)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => as_text(a).map(|s| s.to_lowercase()).cmp(&as_text(b).map(|s| s.to_lowercase())),
        },
    }
}

/// The object of a FROM / RETURNING clause, or INVALID_TYPE.
pub fn queryable(org: &OrgState, name: &str) -> Result<ObjectDef, RestError> {
    let mut def = schema::object(name).ok_or_else(|| {
        RestError::new(
            400,
            "INVALID_TYPE",
            format!(
                "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name."
            ),
        )
    })?;
    if def.kind == ObjectKind::PlatformEvent {
        return Err(RestError::new(400, "INVALID_TYPE", format!("entity type {} does not support query", def.name)));
    }
    def.name = org.rest.canonical_object(&def);
    Ok(def)
}

/// The result of a query before paging.
pub struct QueryResult {
    pub total: usize,
    pub records: Vec<Value>,
}

/// Parses and runs a SOQL query; records are rendered in REST shape.
pub fn run_query(org: &OrgState, text: &str, version: &str, now: DateTime<Utc>) -> Result<QueryResult, RestError> {
    let query = soql::parse(text).map_err(|e| RestError::new(400, "MALFORMED_QUERY", format!("{e} in: {text}")))?;
    let def = queryable(org, &query.object)?;
    let paths = query.fields.iter().map(|p| resolve(&def, p)).collect::<Result<Vec<_>, _>>()?;
    if let Some(filter) = &query.filter {
        check_cond(org, &def, filter)?;
    }
    let filter = query.filter.clone().map(|f| materialize(org, f, now)).transpose()?;
    let order = query.order_by.iter().map(|o| resolve(&def, &o.path).map(|r| (r, o))).collect::<Result<Vec<_>, _>>()?;
    let mut rows: Vec<Map<String, Value>> = store::rows(org, &def)
        .into_iter()
        .filter(|row| filter.as_ref().is_none_or(|c| eval(org, &def, row, c, now)))
        .collect();
    if !order.is_empty() {
        let keyed: Vec<Vec<Value>> =
            rows.iter().map(|row| order.iter().map(|(r, _)| value_at(org, row, r)).collect()).collect();
        let mut index: Vec<usize> = (0..rows.len()).collect();
        index.sort_by(|&a, &b| {
            for (i, (resolved, item)) in order.iter().enumerate() {
                let (x, y) = (&keyed[a][i], &keyed[b][i]);
                let o = match (x.is_null(), y.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) if item.nulls_first() => Ordering::Less,
                    (true, false) => Ordering::Greater,
                    (false, true) if item.nulls_first() => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => {
                        let o = order_values(x, y, resolved.field.ty);
                        if item.descending { o.reverse() } else { o }
                    }
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        let mut taken: Vec<Option<Map<String, Value>>> = rows.into_iter().map(Some).collect();
        rows = index.into_iter().filter_map(|i| taken[i].take()).collect();
    }
    let offset = query.offset.unwrap_or(0);
    let rows: Vec<_> = rows.into_iter().skip(offset).take(query.limit.unwrap_or(usize::MAX)).collect();
    if query.count {
        return Ok(QueryResult { total: rows.len(), records: Vec::new() });
    }
    let records = rows.iter().map(|row| render(org, version, &def.name, row, &paths)).collect();
    Ok(QueryResult { total: rows.len(), records })
}

fn row_matches(def: &ObjectDef, row: &Map<String, Value>, scope: Scope, term: &str) -> bool {
    row.iter().any(|(key, value)| {
        let Some(text) = value.as_str() else {
            return false;
        };
        let Some(field) = def.field(key) else {
            return false;
        };
        match scope {
            Scope::All => {
                field.ty.is_text()
                    && (sosl::matches_text(text, term)
                        || (field.ty == FieldType::Phone && sosl::matches_phone(text, term)))
            }
            Scope::Name => field.name_field && sosl::matches_text(text, term),
            Scope::Phone => field.ty == FieldType::Phone && sosl::matches_phone(text, term),
            Scope::Email => field.ty == FieldType::Email && sosl::matches_text(text, term),
        }
    })
}

/// Parses and runs a SOSL search; answers the `searchRecords` list.
pub fn run_search(org: &OrgState, text: &str, version: &str) -> Result<Vec<Value>, RestError> {
    let search = sosl::parse(text).map_err(|e| RestError::new(400, "MALFORMED_SEARCH", format!("{e} in: {text}")))?;
    let returning = if search.returning.is_empty() {
        ["Account", "Contact", "Case"]
            .into_iter()
            .map(|o| sosl::Returning { object: o.into(), fields: Vec::new(), limit: None })
            .collect()
    } else {
        search.returning.clone()
    };
    let mut out = Vec::new();
    for item in &returning {
        let def = queryable(org, &item.object)?;
        let paths = if item.fields.is_empty() {
            vec![resolve(&def, &vec!["Id".to_owned()])?]
        } else {
            item.fields.iter().map(|p| resolve(&def, p)).collect::<Result<Vec<_>, _>>()?
        };
        let found = store::rows(org, &def)
            .into_iter()
            .filter(|row| row_matches(&def, row, search.scope, &search.term))
            .take(item.limit.unwrap_or(usize::MAX));
        for row in found {
            out.push(render(org, version, &def.name, &row, &paths));
        }
    }
    out.truncate(search.limit.unwrap_or(2000));
    Ok(out)
}
