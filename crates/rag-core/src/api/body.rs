//! Reading JSON request bodies field by field, so every endpoint answers a
//! malformed, missing or mistyped field with the same `400` shape.

use serde_json::{Map, Value};

use crate::api::error::ApiError;

/// Parses a body that must be a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::bad_request(
            "invalid_json",
            "request body must be a JSON object",
        )),
    }
}

/// A field that is present and not `null`.
pub fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// A `400` naming a field and what is wrong with it.
pub fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::bad_request("invalid_field", format!("'{field}' {why}"))
}

/// A `400` for a required field that is absent.
pub fn missing(field: &str) -> ApiError {
    ApiError::bad_request("missing_field", format!("'{field}' is required"))
}

/// A required, non-blank string field.
pub fn required_str(obj: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match present(obj, field) {
        None => Err(missing(field)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(invalid(field, "must not be empty")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// An optional string field.
pub fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match present(obj, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// An optional boolean field.
pub fn optional_bool(obj: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    present(obj, field)
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| invalid(field, "must be a boolean"))
        })
        .transpose()
}
