//! `/api/push/*`: Web Push for the signed-in user's browsers: the server's VAPID key to subscribe
//! with, and the subscriptions themselves.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::push::Subscription;
use crate::wire::format_time;

#[derive(Debug, Object)]
pub struct PushKey {
    /// The VAPID public key: a P-256 point, uncompressed (65 bytes), base64url without padding.
    /// Pass it to `pushManager.subscribe({applicationServerKey})`.
    pub public_key: String,
}

#[derive(Debug, Object)]
pub struct PushKeys {
    /// The browser's P-256 public key (65 bytes uncompressed), base64url.
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    pub auth: String,
}

/// A `PushSubscription` as the browser's `toJSON()` gives it.
#[derive(Debug, Object)]
pub struct NewPushSubscription {
    /// The push service URL to POST pushes to (https, at most 2 KiB).
    pub endpoint: String,
    pub keys: PushKeys,
    /// Sent by browsers; ignored.
    #[oai(rename = "expirationTime")]
    pub expiration_time: Option<f64>,
}

#[derive(Debug, Object)]
pub struct PushEndpoint {
    pub endpoint: String,
}

#[derive(Debug, Object)]
pub struct PushSubscriptionView {
    pub endpoint: String,
    pub created_at: String,
}

impl From<Subscription> for PushSubscriptionView {
    fn from(subscription: Subscription) -> Self {
        Self {
            endpoint: subscription.endpoint,
            created_at: format_time(subscription.created_at_ms),
        }
    }
}

#[derive(Debug, Object)]
pub struct PushSubscriptionList {
    pub subscriptions: Vec<PushSubscriptionView>,
}

#[derive(ApiResponse)]
pub enum SavedSubscription {
    /// A new subscription.
    #[oai(status = 201)]
    Created(Json<PushSubscriptionView>),
    /// This endpoint was already subscribed; its keys are updated.
    #[oai(status = 200)]
    Updated(Json<PushSubscriptionView>),
}

#[derive(ApiResponse)]
pub enum DeletedSubscription {
    #[oai(status = 204)]
    Deleted,
}

pub struct PushApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/push", tag = "ApiTags::Notifications")]
impl PushApi {
    /// The server's VAPID public key, for subscribing a browser to pushes.
    ///
    /// Errors: 503 `push_disabled`. Scope: `read`.
    #[oai(path = "/key", method = "get")]
    async fn key(&self, _auth: Auth) -> ApiResult<Json<PushKey>> {
        Ok(Json(PushKey {
            public_key: self.state.push.public_key()?.to_owned(),
        }))
    }

    /// Your push subscriptions (one per browser that enabled notifications), oldest first.
    ///
    /// Errors: 503 `push_disabled`. Scope: `read`.
    #[oai(path = "/subscriptions", method = "get")]
    async fn list(&self, auth: Auth) -> ApiResult<Json<PushSubscriptionList>> {
        let subscriptions = self.state.push.subscriptions(&auth.caller().user)?;
        Ok(Json(PushSubscriptionList {
            subscriptions: subscriptions.into_iter().map(Into::into).collect(),
        }))
    }

    /// Subscribe a browser: messages that notify you (per each room's level) and that none of
    /// your devices has read within `push.delay` (10 s) are pushed to it. At most 10 per user:
    /// an 11th replaces the oldest. Subscribing a known endpoint again updates its keys.
    ///
    /// Errors: 400 `invalid_endpoint` (not an https URL, over 2 KiB), `forbidden_endpoint`
    /// (a loopback, private, link-local or other internal address), `invalid_keys` (`p256dh` not
    /// a P-256 point, `auth` not 16 bytes); 503 `push_disabled`. Scope: `write`.
    #[oai(path = "/subscriptions", method = "post")]
    async fn subscribe(
        &self,
        auth: Auth,
        body: StrictJson<NewPushSubscription>,
    ) -> ApiResult<SavedSubscription> {
        let body = body.0;
        let (saved, created) = self
            .state
            .push
            .subscribe(
                &auth.caller().user,
                &body.endpoint,
                &body.keys.p256dh,
                &body.keys.auth,
            )
            .await?;
        let view = Json(saved.into());
        Ok(if created {
            SavedSubscription::Created(view)
        } else {
            SavedSubscription::Updated(view)
        })
    }

    /// Unsubscribe a browser (by its endpoint).
    ///
    /// Errors: 404 `not_found`; 503 `push_disabled`. Scope: `write`.
    #[oai(path = "/subscriptions", method = "delete")]
    async fn unsubscribe(
        &self,
        auth: Auth,
        body: StrictJson<PushEndpoint>,
    ) -> ApiResult<DeletedSubscription> {
        self.state
            .push
            .unsubscribe(&auth.caller().user, &body.0.endpoint)
            .await?;
        Ok(DeletedSubscription::Deleted)
    }
}
