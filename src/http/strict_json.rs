//! `StrictJson<T>`: the request body of every route, checked against its documented schema
//! before it is parsed.
//!
//! Why: poem-openapi's `Json<T>` parses with `ParseFromJSON`, and its `String` implementation
//! (5.1.16, `types/external/string.rs`) turns a JSON number or boolean into text, so
//! `{"body":5}` posted the message `"5"` and `{"username":true}` registered `true`. Its
//! integers, booleans and arrays are strict already, but their errors name the struct, never the
//! field. We want every body refused with a 400 naming the field whenever a value has another
//! JSON type than the API documents.
//!
//! How, and why this way: the body is walked against the very schema the OpenAPI document shows
//! for `T` (the one poem-openapi derives and registers), and only a body that matches is handed
//! to `T::parse_from_json`. Two other designs were weighed:
//! - a strict string newtype in every request struct: strings only, easy to forget in the next
//!   struct (a plain `String` field type-checks), and its errors still would not name the field;
//! - a middleware validating raw bodies against the served OpenAPI document: it would have to
//!   route requests a second time and would run before authentication, unlike every other
//!   request check.
//!
//! The walk follows the schema, so a route is covered as soon as its handler takes
//! `StrictJson<T>`, whatever the fields of `T`; `tests/strict_json.rs` sends wrong types to every
//! request schema listed in the OpenAPI document, so a handler that takes plain `Json<T>` again
//! fails there. Building `T`'s schema costs a few small allocations per request, nothing next to
//! the store write that follows, and keeps no state between requests.
//!
//! Rules: a property that is absent or `null` is fine when the schema does not require it (it
//! parses as `None`); `integer` takes only numbers without fraction or exponent, in the range of
//! their documented format (`uint32`, ...); unknown properties are ignored, as poem-openapi does.
//! `anyOf`/`oneOf` schemas are left to poem-openapi (the API has none in requests). Error
//! messages name the field and the JSON type found, never the value: a password sent as a
//! number must not come back in an answer or a log line.

use std::fmt;

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use serde_json::{Map, Number, Value};

use crate::error::Error;

/// A JSON request body of type `T`, refused with 400 `bad_request` unless every value has the
/// JSON type `T`'s schema documents. Same content type, schema and optionality as `Json<T>`.
pub struct StrictJson<T>(pub T);

impl<T: Type> Payload for StrictJson<T> {
    const CONTENT_TYPE: &'static str = Json::<T>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for StrictJson<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        let value = if data.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&data)
                .map_err(|err| bad_request(format!("the request body is not valid JSON: {err}")))?
        };
        check::<T>(&value).map_err(|mismatch| bad_request(mismatch.to_string()))?;
        T::parse_from_json(Some(value))
            .map(Self)
            .map_err(|err| bad_request(err.into_message()))
    }
}

poem_openapi::impl_apirequest_for_payload!(StrictJson<T>, T: ParseFromJSON);

fn bad_request(message: String) -> poem::Error {
    Error::invalid("bad_request", message).into()
}

/// Checks `value` against the schema `T` documents.
fn check<T: Type>(value: &Value) -> Result<(), Mismatch> {
    if value.is_null() && !T::IS_REQUIRED {
        return Ok(());
    }
    let mut registry = Registry::new();
    T::register(&mut registry);
    check_ref(value, &T::schema_ref(), &registry)
}

fn check_ref(value: &Value, schema: &MetaSchemaRef, registry: &Registry) -> Result<(), Mismatch> {
    match schema {
        MetaSchemaRef::Inline(schema) => check_schema(value, schema, registry),
        // Every reference of a registered type is in the registry; were one missing, parsing
        // would still judge the value.
        MetaSchemaRef::Reference(name) => match registry.schemas.get(name) {
            Some(schema) => check_schema(value, schema, registry),
            None => Ok(()),
        },
    }
}

fn check_schema(value: &Value, schema: &MetaSchema, registry: &Registry) -> Result<(), Mismatch> {
    if value.is_null() && schema.nullable {
        return Ok(());
    }
    // A property with a description of its own is `allOf: [$ref, {description}]`.
    for part in &schema.all_of {
        check_ref(value, part, registry)?;
    }
    if !schema.any_of.is_empty() || !schema.one_of.is_empty() {
        return Ok(());
    }
    match (schema.ty, value) {
        ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_)) => Ok(()),
        ("integer", Value::Number(number)) => check_integer(number, schema.format),
        ("array", Value::Array(items)) => {
            let Some(item_schema) = &schema.items else {
                return Ok(());
            };
            for (index, item) in items.iter().enumerate() {
                check_ref(item, item_schema, registry)
                    .map_err(|m| m.inside(Segment::Index(index)))?;
            }
            Ok(())
        }
        ("object", Value::Object(object)) => check_object(object, schema, registry),
        ("string" | "boolean" | "number" | "integer" | "array" | "object", found) => {
            Err(Mismatch::new(Problem::WrongType {
                expected: schema.ty,
                found: kind_of(found),
            }))
        }
        // No type (`{}` accepts anything) or one this walk does not know: parsing judges it.
        _ => Ok(()),
    }
}

fn check_object(
    object: &Map<String, Value>,
    schema: &MetaSchema,
    registry: &Registry,
) -> Result<(), Mismatch> {
    for &(name, ref property) in &schema.properties {
        let required = schema.required.contains(&name);
        match object.get(name) {
            None | Some(Value::Null) if !required => {}
            None => return Err(Mismatch::new(Problem::Missing).inside(Segment::Field(name))),
            Some(value) => {
                check_ref(value, property, registry).map_err(|m| m.inside(Segment::Field(name)))?
            }
        }
    }
    if let Some(values) = &schema.additional_properties {
        for (key, value) in object {
            if schema
                .properties
                .iter()
                .any(|(name, _)| *name == key.as_str())
            {
                continue;
            }
            check_ref(value, values, registry).map_err(|m| m.inside(Segment::Key(key.clone())))?;
        }
    }
    Ok(())
}

fn check_integer(number: &Number, format: Option<&str>) -> Result<(), Mismatch> {
    let Some(n) = number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
    else {
        return Err(Mismatch::new(Problem::WrongType {
            expected: "integer",
            found: "a number with a fraction or exponent",
        }));
    };
    let Some((min, max)) = format.and_then(integer_range) else {
        return Ok(());
    };
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(Mismatch::new(Problem::OutOfRange { min, max }))
    }
}

/// The values an integer format (as poem-openapi names Rust's integer types) can hold.
fn integer_range(format: &str) -> Option<(i128, i128)> {
    let range = match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "int64" => (i64::MIN.into(), i64::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "uint64" => (0, u64::MAX.into()),
        _ => return None,
    };
    Some(range)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe_type(ty: &str) -> &'static str {
    match ty {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "an array",
        _ => "an object",
    }
}

/// Where in the body a mismatch is.
#[derive(Debug)]
enum Segment {
    Field(&'static str),
    Key(String),
    Index(usize),
}

#[derive(Debug)]
enum Problem {
    Missing,
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    OutOfRange {
        min: i128,
        max: i128,
    },
}

/// The first value that does not match the schema. The path is collected on the way out of the
/// walk, innermost segment first, so a body that matches allocates nothing for it.
#[derive(Debug)]
struct Mismatch {
    path: Vec<Segment>,
    problem: Problem,
}

impl Mismatch {
    fn new(problem: Problem) -> Self {
        Self {
            path: Vec::new(),
            problem,
        }
    }

    fn inside(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str("the request body")?;
        } else {
            f.write_str("`")?;
            for (i, segment) in self.path.iter().rev().enumerate() {
                match segment {
                    Segment::Field(name) if i == 0 => f.write_str(name)?,
                    Segment::Field(name) => write!(f, ".{name}")?,
                    Segment::Key(key) if i == 0 => f.write_str(key)?,
                    Segment::Key(key) => write!(f, ".{key}")?,
                    Segment::Index(index) => write!(f, "[{index}]")?,
                }
            }
            f.write_str("`")?;
        }
        match &self.problem {
            Problem::Missing => f.write_str(" is required"),
            Problem::WrongType { expected, found } => {
                write!(f, " must be {}, not {found}", describe_type(expected))
            }
            Problem::OutOfRange { min, max } => {
                write!(f, " must be an integer from {min} to {max}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Object)]
    struct Inner {
        flag: bool,
        ratio: Option<f64>,
    }

    #[derive(Debug, Object)]
    struct Outer {
        name: String,
        note: Option<String>,
        count: Option<u32>,
        offset: Option<i8>,
        tags: Vec<String>,
        /// A described nested object becomes `allOf: [$ref, {description}]`.
        inner: Option<Inner>,
        list: Option<Vec<Inner>>,
    }

    fn verdict<T: Type>(value: Value) -> Result<(), String> {
        check::<T>(&value).map_err(|m| m.to_string())
    }

    #[test]
    fn strict_json_accepts_what_the_schema_documents() {
        let full = json!({
            "name": "a", "note": "b", "count": 4_000_000_000u32, "offset": -128, "tags": ["x"],
            "inner": {"flag": true, "ratio": 0.5}, "list": [{"flag": false, "ratio": 2}],
            "unknown": 5,
        });
        assert_eq!(verdict::<Outer>(full), Ok(()));
        let minimal = json!({"name": "a", "note": null, "count": null, "tags": []});
        assert_eq!(verdict::<Outer>(minimal), Ok(()));
        assert_eq!(verdict::<Option<Outer>>(Value::Null), Ok(()));
    }

    #[test]
    fn strict_json_names_the_field_and_the_type_found() {
        let cases = [
            (
                json!({"name": 5, "tags": []}),
                "`name` must be a string, not a number",
            ),
            (
                json!({"name": true, "tags": []}),
                "`name` must be a string, not a boolean",
            ),
            (
                json!({"name": null, "tags": []}),
                "`name` must be a string, not null",
            ),
            (json!({"tags": []}), "`name` is required"),
            (
                json!({"name": "a", "note": 1, "tags": []}),
                "`note` must be a string, not a number",
            ),
            (
                json!({"name": "a", "count": "5", "tags": []}),
                "`count` must be an integer, not a string",
            ),
            (
                json!({"name": "a", "count": 5.5, "tags": []}),
                "`count` must be an integer, not a number with a fraction or exponent",
            ),
            (
                json!({"name": "a", "count": -1, "tags": []}),
                "`count` must be an integer from 0 to 4294967295",
            ),
            (
                json!({"name": "a", "offset": 128, "tags": []}),
                "`offset` must be an integer from -128 to 127",
            ),
            (
                json!({"name": "a", "tags": "x"}),
                "`tags` must be an array, not a string",
            ),
            (
                json!({"name": "a", "tags": ["x", 7]}),
                "`tags[1]` must be a string, not a number",
            ),
            (
                json!({"name": "a", "tags": [], "inner": {"flag": "yes"}}),
                "`inner.flag` must be true or false, not a string",
            ),
            (
                json!({"name": "a", "tags": [], "list": [{"flag": true, "ratio": "1"}]}),
                "`list[0].ratio` must be a number, not a string",
            ),
            (
                json!("text"),
                "the request body must be an object, not a string",
            ),
            (
                json!([]),
                "the request body must be an object, not an array",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(
                verdict::<Outer>(body.clone()),
                Err(message.to_string()),
                "{body}"
            );
        }
        assert_eq!(
            verdict::<Outer>(Value::Null),
            Err("the request body must be an object, not null".to_string())
        );
    }
}
