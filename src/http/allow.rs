//! The `Allow` header of a 405 answer (RFC 9110 requires one), read from the API's own OpenAPI
//! description so it can never disagree with the routes.

use std::sync::Arc;

use poem::http::{header, HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

/// For each documented path, its segments (`None` for a `{parameter}`) and its methods.
#[derive(Debug, Default)]
pub struct AllowTable {
    prefix: String,
    routes: Vec<(Vec<Option<String>>, HeaderValue)>,
}

impl AllowTable {
    /// Builds the table from the OpenAPI JSON of the API served under `prefix` (e.g. `/api`).
    /// A description that does not parse gives an empty table: 405s then go without `Allow`,
    /// which is worse but harmless.
    pub fn from_spec(spec_json: &str, prefix: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) else {
            return Self::default();
        };
        let routes = paths
            .iter()
            .filter_map(|(path, operations)| {
                let mut methods: Vec<String> = operations
                    .as_object()?
                    .keys()
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                methods.sort();
                let value = HeaderValue::from_str(&methods.join(", ")).ok()?;
                let segments = segments(path)
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                    .collect();
                Some((segments, value))
            })
            .collect();
        Self {
            prefix: prefix.to_string(),
            routes,
        }
    }

    /// The methods a request path may use, if it is one of the documented paths.
    pub fn methods_for(&self, path: &str) -> Option<&HeaderValue> {
        let rest = path
            .strip_prefix(&self.prefix)
            .filter(|rest| rest.starts_with('/'))?;
        let wanted: Vec<&str> = segments(rest).collect();
        self.routes
            .iter()
            .find(|(pattern, _)| {
                pattern.len() == wanted.len()
                    && pattern.iter().zip(&wanted).all(|(p, w)| match p {
                        Some(literal) => literal == w,
                        None => !w.is_empty(),
                    })
            })
            .map(|(_, methods)| methods)
    }
}

/// A path's segments, ignoring a trailing slash (poem serves `/rooms` and `/rooms/` alike).
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/').filter(|_| !path.is_empty())
}

/// Adds `Allow` to a 405 answer for a documented path.
pub async fn allow_on_405<E: Endpoint>(
    table: Arc<AllowTable>,
    next: E,
    req: Request,
) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    let mut response = next.call(req).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(methods) = table.methods_for(&path) {
            response
                .headers_mut()
                .insert(header::ALLOW, methods.clone());
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"paths": {
        "/auth/login": {"post": {}},
        "/rooms": {"get": {}, "post": {}},
        "/rooms/{id}": {"get": {}, "delete": {}},
        "/rooms/{id}/messages": {"get": {}, "post": {}}
    }}"#;

    #[test]
    fn allow_lists_the_documented_methods_of_a_path() {
        let table = AllowTable::from_spec(SPEC, "/api");
        let allow = |path: &str| table.methods_for(path).map(|v| v.to_str().unwrap_or(""));
        assert_eq!(allow("/api/auth/login"), Some("POST"));
        assert_eq!(allow("/api/rooms"), Some("GET, POST"));
        assert_eq!(allow("/api/rooms/"), Some("GET, POST"));
        assert_eq!(
            allow("/api/rooms/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            Some("DELETE, GET")
        );
        assert_eq!(allow("/api/rooms/x/messages"), Some("GET, POST"));
        assert_eq!(allow("/api/rooms//messages"), None);
        assert_eq!(allow("/api/rooms/x/members"), None);
        assert_eq!(allow("/rooms"), None);
        assert_eq!(allow("/api"), None);
        assert_eq!(allow("/apirooms"), None);
    }

    #[test]
    fn allow_table_of_a_broken_spec_is_empty() {
        let table = AllowTable::from_spec("not json", "/api");
        assert!(table.methods_for("/api/rooms").is_none());
    }
}
