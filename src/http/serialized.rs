//! A JSON answer written straight from the value's serde implementation.
//!
//! poem-openapi's `Json` first turns the whole answer into a `serde_json::Value` tree (a map per
//! object, a copied string per field) and then serializes that tree; for a list of a thousand
//! rooms that was a third of the request's CPU. `SerializedJson` skips the tree. It is only for
//! types whose serde shape is their OpenAPI schema: the wire types derive both, with the same
//! field names and skip rules, and the tests below hold them to it (`room_list_...`,
//! `search_results_...`).

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;
use serde::Serialize;

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A 200 answer with `T` as its JSON body, documented with `T`'s schema.
pub struct SerializedJson<T>(pub T);

impl<T: Serialize + Send> IntoResponse for SerializedJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            Err(err) => {
                // Plain structs with string keys cannot fail to serialize; should one ever do,
                // say so rather than send half a body.
                tracing::error!(error = %err, "could not serialize an answer");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for SerializedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: schema_ref::<T>(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

fn schema_ref<T: Type>() -> MetaSchemaRef {
    T::schema_ref()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::super::rooms::RoomList;
    use crate::chat::model::{Room, RoomInfo};
    use crate::ids::RoomId;
    use crate::store::{Role, RoomKind};
    use crate::wire::RoomView;

    fn info(kind: RoomKind, role: Option<Role>, members: Option<Vec<String>>) -> RoomInfo {
        RoomInfo {
            room: Room {
                id: RoomId::generate(1_764_079_387_120),
                name: "plans \"q4\" <b>".into(),
                created_by: "ann".into(),
                created_at_ms: 1_764_079_387_120,
                expires_at_ms: 1_764_684_187_120,
                last_active_at_ms: 1_764_079_390_000,
                kind,
                topic: "ünïcode \u{1F600}".into(),
                member_count: 3,
                encrypted: false,
                key_version: 0,
            },
            role,
            members,
            activity: None,
        }
    }

    #[test]
    fn room_list_serializes_as_documented() {
        let rooms = [
            info(RoomKind::Public, None, None),
            info(RoomKind::Private, Some(Role::Owner), None),
            info(
                RoomKind::Direct,
                Some(Role::Member),
                Some(vec!["ann".into(), "bob".into()]),
            ),
        ];
        let mut with_activity = info(RoomKind::Private, Some(Role::Member), None);
        with_activity.activity = Some(crate::chat::model::RoomActivity {
            unread_count: 2,
            mention_count: 1,
            last_read: None,
            last_message: None,
            notifications: crate::store::NotificationLevel::Mentions,
        });
        let list = RoomList {
            rooms: rooms
                .iter()
                .chain([&with_activity])
                .map(RoomView::from)
                .collect(),
        };
        let through_openapi = list.to_json().unwrap();
        let through_serde = serde_json::to_value(&list).unwrap();
        assert_eq!(through_serde, through_openapi);
    }

    #[test]
    fn search_results_serialize_as_documented() {
        use super::super::search::{SearchHitView, SearchResultsView};
        use crate::chat::model::Message;
        use crate::wire::MessageView;

        let room = info(RoomKind::Private, Some(Role::Member), None);
        let message = Message {
            id: crate::ids::MessageId(7),
            room: room.room.id,
            author: "ann".into(),
            body: "a <mark>plan</mark> & more \u{1F600}".into(),
            sent_at_ms: 1_764_079_390_000,
            reply_to: Some(crate::ids::MessageId(3)),
            edited_at_ms: Some(1_764_079_391_000),
            deleted: false,
            reactions: Vec::new(),
            seq: 9,
            webhook: None,
            mentions: vec!["bob".into(), "room".into()],
            ordinal: Some(5),
            attachments: Vec::new(),
            encrypted: None,
        };
        let hit = SearchHitView {
            message: MessageView::from(&message),
            room: RoomView::from(&room),
            snippet: "a <mark>plan</mark> &amp; more".into(),
        };
        for (next_cursor, truncated) in [(None, None), (Some("c1".to_string()), Some(true))] {
            let results = SearchResultsView {
                hits: vec![hit.clone()],
                next_cursor,
                truncated,
            };
            let through_openapi = results.to_json().unwrap();
            let through_serde = serde_json::to_value(&results).unwrap();
            assert_eq!(through_serde, through_openapi);
        }
    }
}
