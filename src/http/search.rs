//! `GET /api/search`: full-text search over the messages the caller may read (src/search).

use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi};
use serde::Serialize;

use super::error::ApiResult;
use super::security::Auth;
use super::serialized::SerializedJson;
use super::ApiTags;
use crate::app::AppState;
use crate::error::Error;
use crate::search::{SearchRequest, SearchResults};
use crate::wire::{MessageView, RoomView};

// Serialized by serde (`SerializedJson`): the same names and skip rules as the schema, held to
// it by `serialized::tests::search_results_serialize_as_documented`.
#[derive(Debug, Clone, Object, Serialize)]
pub struct SearchHitView {
    /// The message as it is now.
    pub message: MessageView,
    /// Its room, as the caller sees it.
    pub room: RoomView,
    /// Up to 200 characters of the message around the matches, as HTML: the text escaped,
    /// each match in `<mark>...</mark>`, nothing else.
    pub snippet: String,
}

#[derive(Debug, Object, Serialize)]
pub struct SearchResultsView {
    /// Newest first.
    pub hits: Vec<SearchHitView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Present (true) when `search.time_budget` ran out before the whole index was searched:
    /// the hits are what was found by then.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

impl From<SearchResults> for SearchResultsView {
    fn from(results: SearchResults) -> Self {
        Self {
            hits: results
                .hits
                .into_iter()
                .map(|hit| SearchHitView {
                    message: MessageView::from(hit.message.as_ref()),
                    room: RoomView::from(&hit.room),
                    snippet: hit.snippet,
                })
                .collect(),
            next_cursor: results.next_cursor,
            truncated: results.truncated.then_some(true),
        }
    }
}

pub struct SearchApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Search")]
impl SearchApi {
    /// Search the messages you may read now: public rooms, and private and direct rooms you
    /// are a member of (never end-to-end encrypted rooms, whose text the server cannot read).
    /// Newest first. A message becomes searchable about a second after it is sent; edits
    /// replace its text, deleted messages and expired rooms are not found.
    ///
    /// Query syntax in `q`: words (all must match, case and accents ignored), `"exact
    /// phrases"`, `-excluded` words or phrases, `from:username`, `in:room-name`,
    /// `before:2026-11-30` (sent before that day, UTC), `after:2026-11-01` (sent after that
    /// day). Chinese and Japanese are matched by pairs of characters; code identifiers such as
    /// `foo_bar` or `FooBar` by their parts.
    ///
    /// Errors: 400 `invalid_query` (empty, over 512 characters or 32 terms, a syntax error:
    /// the message says where), 400 `encrypted_room` (`room` is end-to-end encrypted), 404
    /// `not_found` (`room` is not one you may read), 429 `rate_limited` (`search.per_minute`),
    /// 503 `reindexing` (the index is being rebuilt; chat works meanwhile), 503
    /// `search_disabled`. Scope: `read`.
    #[oai(path = "/search", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        auth: Auth,
        /// The query (1-512 characters, at most 32 terms).
        q: Query<String>,
        /// Only this room (its id).
        room: Query<Option<String>>,
        /// Only messages by this username (as `from:`).
        author: Query<Option<String>>,
        /// Only messages sent before this day (YYYY-MM-DD, UTC), as `before:`.
        before: Query<Option<String>>,
        /// Only messages sent after this day (YYYY-MM-DD, UTC), as `after:`.
        after: Query<Option<String>>,
        /// Hits per page: 1 to 100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<SerializedJson<SearchResultsView>> {
        let Some(search) = &self.state.search else {
            return Err(Error::Disabled {
                code: "search_disabled",
                message: "search is off on this server (search.enabled = false)".into(),
            }
            .into());
        };
        let request = SearchRequest {
            q: q.0,
            room: room.0,
            author: author.0,
            before: before.0,
            after: after.0,
            limit: limit.0.map(|l| l as usize),
            cursor: cursor.0,
        };
        let results = search.search(&auth.caller().user, request).await?;
        Ok(SerializedJson(results.into()))
    }
}
