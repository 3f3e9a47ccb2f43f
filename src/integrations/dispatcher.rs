//! The outgoing webhook dispatcher: a background task that queues deliveries for new messages
//! and sends those that are due, signed, each retried with exponential backoff until it
//! succeeds or `webhook_retry_for` has passed since its event.
//!
//! A delivery keeps its queue entry while it is being sent (the task remembers what it has in
//! flight), and the entry moves only when the outcome is written: a crash mid-call sends it
//! again after the restart instead of forgetting it.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::signature::sign;
use super::Integrations;
use crate::chat::Draft;
use crate::store::{DeliveryRecord, DeliveryStatus, DueDelivery, WebhookKind, WebhookStamp};

/// Calls in flight at once, over all webhooks.
const MAX_IN_FLIGHT: usize = 16;
/// How long the dispatcher sleeps with nothing scheduled (new messages and new webhooks wake
/// it sooner).
const IDLE_WAIT: Duration = Duration::from_secs(60);
/// The longest wait between two tries of one delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The fields of a JSON answer whose text is posted back into the room.
const REPLY_FIELDS: [&str; 2] = ["body", "text"];

pub async fn run(integrations: Arc<Integrations>, stop: CancellationToken) {
    let committed = integrations.chat.committed();
    let mut in_flight: JoinSet<[u8; 16]> = JoinSet::new();
    let mut sending: HashSet<[u8; 16]> = HashSet::new();
    loop {
        match integrations.queue_new_events() {
            Ok(0) => {}
            Ok(queued) => integrations
                .chat
                .metrics()
                .webhook_deliveries_queued(queued),
            Err(err) => tracing::error!(error = %err, "could not queue webhook deliveries"),
        }
        let free = MAX_IN_FLIGHT.saturating_sub(sending.len());
        let now = integrations.chat.now_ms();
        match integrations.store.due_deliveries(now, free + sending.len()) {
            Ok(due) => {
                let fresh: Vec<DueDelivery> = due
                    .into_iter()
                    .filter(|d| !sending.contains(&d.id))
                    .take(free)
                    .collect();
                for due in fresh {
                    sending.insert(due.id);
                    let integrations = integrations.clone();
                    in_flight.spawn(async move {
                        integrations.attempt(due).await;
                        due.id
                    });
                }
            }
            Err(err) => tracing::error!(error = %err, "could not read the delivery queue"),
        }
        // Whatever is due now was just started, or waits for a slot: a finished call wakes the
        // loop then, so an overdue head of the queue does not make it spin.
        let next_due = match integrations.store.next_delivery_due().ok().flatten() {
            Some(at) if at > integrations.chat.now_ms() => {
                Duration::from_millis(at - integrations.chat.now_ms())
            }
            Some(_) if !sending.is_empty() => IDLE_WAIT,
            Some(_) => Duration::from_millis(5),
            None => IDLE_WAIT,
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = committed.notified(), if integrations.has_outgoing.load(Ordering::Relaxed) => {}
            () = integrations.added.notified() => {}
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok(id) = done {
                    sending.remove(&id);
                }
                while let Some(done) = in_flight.try_join_next() {
                    if let Ok(id) = done {
                        sending.remove(&id);
                    }
                }
            }
            () = tokio::time::sleep(next_due) => {}
        }
    }
    // Calls still running are dropped: their queue entries bring them back after a restart.
    in_flight.shutdown().await;
    tracing::debug!("webhook dispatcher stopped");
}

impl Integrations {
    /// One try of one delivery, and its outcome written down.
    async fn attempt(&self, due: DueDelivery) {
        let (Ok(Some(mut record)), Ok(Some(hook))) = (
            self.store.delivery(due.webhook, due.id),
            self.store.webhook(due.room, due.webhook),
        ) else {
            let _ = self.store.drop_due_delivery(&due);
            return;
        };
        let WebhookKind::Outgoing { url, secret, .. } = &hook.kind else {
            let _ = self.store.drop_due_delivery(&due);
            return;
        };
        let now = self.chat.now_ms();
        let timestamp = now / 1000;
        let body = record.payload.clone().into_bytes();
        let headers = [
            ("X-Confab-Signature", sign(secret, timestamp, &body)),
            ("X-Confab-Timestamp", timestamp.to_string()),
            ("X-Confab-Delivery", record.id.clone()),
            ("X-Confab-Event", record.event.clone()),
        ];
        let outcome = match self.outbound() {
            Ok(outbound) => match outbound.validate_url(url) {
                Ok(url) => outbound.post_json(&url, &headers, body).await,
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
        let finished_at = self.chat.now_ms();
        record.attempts = record.attempts.saturating_add(1);
        record.last_attempt_at_ms = Some(finished_at);
        let mut reply = None;
        match outcome {
            Ok(response) if (200..300).contains(&response.status) => {
                record.status = DeliveryStatus::Delivered;
                record.next_attempt_at_ms = None;
                record.response_status = Some(response.status);
                record.error = None;
                reply = reply_body(&response.body);
            }
            Ok(response) => {
                record.response_status = Some(response.status);
                let error = if (300..400).contains(&response.status) {
                    format!("answered {} (redirects are not followed)", response.status)
                } else {
                    format!("answered {}", response.status)
                };
                self.failed(&mut record, error, finished_at);
            }
            Err(err) => {
                record.response_status = None;
                self.failed(&mut record, err.to_string(), finished_at);
            }
        }
        self.chat.metrics().webhook_call(record.status.as_str());
        tracing::debug!(
            webhook = %hook.id,
            delivery = %record.id,
            status = record.status.as_str(),
            attempts = record.attempts,
            "webhook call"
        );
        if let Err(err) = self.store.reschedule_delivery(&due, &record) {
            tracing::error!(error = %err, "could not record a webhook call");
        }
        if let Err(err) = self
            .store
            .prune_deliveries(due.webhook, super::DELIVERY_LOG_LEN)
        {
            tracing::warn!(error = %err, "could not prune a delivery log");
        }
        if let Some(body) = reply {
            self.post_reply(&due, &hook, body).await;
        }
    }

    /// A failed try: retried after the backoff, or given up once `retry_for` has passed.
    fn failed(&self, record: &mut DeliveryRecord, error: String, now: u64) {
        record.error = Some(error);
        let age = Duration::from_millis(now.saturating_sub(record.created_at_ms));
        let wait = backoff(self.settings.retry_initial, record.attempts);
        if age + wait > self.settings.retry_for {
            record.status = DeliveryStatus::Failed;
            record.next_attempt_at_ms = None;
        } else {
            record.status = DeliveryStatus::Retrying;
            record.next_attempt_at_ms = Some(now + wait.as_millis() as u64);
        }
    }

    /// Posts a webhook's answer into its room, as the webhook.
    async fn post_reply(
        &self,
        due: &DueDelivery,
        hook: &crate::store::WebhookRecord,
        body: String,
    ) {
        let author = match self.acting_creator(due.room, hook) {
            Ok(Some(author)) => author,
            _ => return,
        };
        let draft = Draft {
            body,
            nonce: None,
            reply_to: None,
            attachments: Vec::new(),
            sealed: None,
            mentions: Vec::new(),
            webhook: Some(WebhookStamp {
                id: hook.id.clone(),
                name: hook.name.clone(),
            }),
        };
        if let Err(err) = self.chat.send_from_http(&author, due.room, draft).await {
            tracing::info!(webhook = %hook.id, error = %err, "a webhook's reply was not posted");
        }
    }
}

/// `initial`, doubled for every try after the first, at most an hour.
fn backoff(initial: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    initial.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

/// The text of a reply `{"body": ...}` or `{"text": ...}`, if the answer is one.
fn reply_body(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    REPLY_FIELDS.iter().find_map(|field| {
        value
            .get(field)
            .and_then(serde_json::Value::as_str)
            .filter(|text| !text.trim().is_empty())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let initial = Duration::from_secs(10);
        assert_eq!(backoff(initial, 1), Duration::from_secs(10));
        assert_eq!(backoff(initial, 2), Duration::from_secs(20));
        assert_eq!(backoff(initial, 4), Duration::from_secs(80));
        assert_eq!(backoff(initial, 30), MAX_BACKOFF);
    }

    #[test]
    fn replies_are_read_from_body_or_text() {
        assert_eq!(reply_body(br#"{"body":"pong"}"#).as_deref(), Some("pong"));
        assert_eq!(reply_body(br#"{"text":"ok"}"#).as_deref(), Some("ok"));
        assert_eq!(reply_body(br#"{"text":"  "}"#), None);
        assert_eq!(reply_body(br#"{"text":5}"#), None);
        assert_eq!(reply_body(b"ok"), None);
    }
}
