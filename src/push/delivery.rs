//! Sends queued pushes: each is encrypted to the subscription's keys (RFC 8291, aes128gcm),
//! signed with the VAPID key and POSTed to its push service through the SSRF-guarded client.
//! 2xx: sent. 404/410: the subscription is dead and removed. 429/5xx or no answer: retried after
//! `Retry-After` or a doubling wait, five times. Anything else: given up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::subscription::decode;
use super::{Job, Push, MAX_IN_FLIGHT};
use crate::integrations::outbound::OutboundError;
use crate::store::PushSubscriptionRecord;

const MAX_RETRIES: u32 = 5;
/// The longest wait between tries, whatever `Retry-After` asks for.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// How long a push service keeps a push for a browser that is offline.
const TTL_SECS: &str = "86400";

enum Outcome {
    Sent,
    Gone,
    Retry(Option<Duration>),
    Failed(String),
}

pub(super) async fn run(
    push: Arc<Push>,
    mut jobs: mpsc::Receiver<Job>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = JoinSet::new();
    'jobs: loop {
        let job = tokio::select! {
            () = shutdown.cancelled() => break,
            job = jobs.recv() => match job {
                Some(job) => Arc::new(job),
                None => break,
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        let subscriptions = match push.store.push_subscriptions_of(&job.username) {
            Ok(subscriptions) => subscriptions,
            Err(err) => {
                tracing::warn!(error = %err, "could not read push subscriptions");
                continue;
            }
        };
        for subscription in subscriptions {
            // At most MAX_IN_FLIGHT at once: when they are all busy the queue fills up and
            // the scheduler drops (and counts) what does not fit.
            let permit = tokio::select! {
                () = shutdown.cancelled() => break 'jobs,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break 'jobs,
                },
            };
            in_flight.spawn(deliver(push.clone(), job.clone(), subscription, permit));
        }
    }
    in_flight.shutdown().await;
}

async fn deliver(
    push: Arc<Push>,
    job: Arc<Job>,
    subscription: PushSubscriptionRecord,
    _slot: OwnedSemaphorePermit,
) {
    let mut wait = push.settings.retry_initial;
    for attempt in 0..=MAX_RETRIES {
        match send_once(&push, &job, &subscription).await {
            Outcome::Sent => {
                push.metrics.push_sent("sent", 1);
                return;
            }
            Outcome::Gone => {
                push.metrics.push_sent("gone", 1);
                tracing::info!(user = %job.username, "a push subscription is gone; removed");
                if let Err(err) = push.forget(&job.username, &subscription.endpoint) {
                    tracing::warn!(error = %err, "could not remove a dead push subscription");
                }
                return;
            }
            Outcome::Failed(why) => {
                push.metrics.push_sent("failed", 1);
                tracing::warn!(user = %job.username, reason = %why, "a push was refused");
                return;
            }
            Outcome::Retry(_) if attempt == MAX_RETRIES => {
                push.metrics.push_sent("failed", 1);
                tracing::warn!(user = %job.username, "a push failed {} times; given up", attempt + 1);
                return;
            }
            Outcome::Retry(asked) => {
                push.metrics.push_sent("retried", 1);
                tokio::time::sleep(asked.unwrap_or(wait).min(MAX_WAIT)).await;
                wait = wait.saturating_mul(2);
            }
        }
    }
}

async fn send_once(push: &Push, job: &Job, subscription: &PushSubscriptionRecord) -> Outcome {
    let Ok(vapid) = push.vapid() else {
        return Outcome::Failed("push is disabled".into());
    };
    let Ok(url) = Url::parse(&subscription.endpoint) else {
        return Outcome::Failed("the stored endpoint is not a URL".into());
    };
    let body = match encrypt(&job.payload, subscription) {
        Ok(body) => body,
        Err(why) => return Outcome::Failed(why),
    };
    let outbound = match push.outbound() {
        Ok(outbound) => outbound,
        Err(err) => return Outcome::Failed(err.to_string()),
    };
    let headers = [
        ("authorization", vapid.authorization(&url)),
        ("ttl", TTL_SECS.to_owned()),
        (
            "urgency",
            if job.urgent { "high" } else { "normal" }.to_owned(),
        ),
        ("topic", job.topic.clone()),
        ("content-encoding", "aes128gcm".to_owned()),
        ("content-type", "application/octet-stream".to_owned()),
    ];
    match outbound.post_json(&url, &headers, body).await {
        Ok(answer) => match answer.status {
            200..=299 => Outcome::Sent,
            404 | 410 => Outcome::Gone,
            429 | 500..=599 => Outcome::Retry(answer.retry_after_secs.map(Duration::from_secs)),
            other => Outcome::Failed(format!("the push service answered {other}")),
        },
        Err(err @ (OutboundError::ForbiddenAddress { .. } | OutboundError::InvalidUrl(_))) => {
            Outcome::Failed(err.to_string())
        }
        Err(_) => Outcome::Retry(None),
    }
}

/// The payload encrypted to the subscription's keys.
fn encrypt(payload: &[u8], subscription: &PushSubscriptionRecord) -> Result<Vec<u8>, String> {
    let point = decode(&subscription.p256dh).ok_or("the stored p256dh is not base64url")?;
    let public = p256::PublicKey::from_sec1_bytes(&point)
        .map_err(|_| "the stored p256dh is not a P-256 point".to_string())?;
    let secret = decode(&subscription.auth).ok_or("the stored auth is not base64url")?;
    if secret.len() != 16 {
        return Err("the stored auth secret is not 16 bytes".into());
    }
    let auth = web_push_native::Auth::clone_from_slice(&secret);
    web_push_native::encrypt(payload.to_vec(), &public, &auth).map_err(|err| err.to_string())
}
