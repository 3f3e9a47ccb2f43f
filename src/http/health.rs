//! `GET /healthz`: liveness for load balancers and systemd, no authentication.

use poem::handler;
use poem::web::Json;
use serde_json::{json, Value};

#[handler]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
