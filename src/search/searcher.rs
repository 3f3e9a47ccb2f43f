//! Running one search: the parsed query becomes a tantivy query limited to the rooms the caller
//! may read now, the newest matches are collected segment by segment within a time budget, and
//! each hit is checked against the store before it is shown, so a hit never outlives its
//! message, its room or the caller's membership, and never shows text a message no longer has.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tantivy::query::{
    AllQuery, BooleanQuery, EnableScoring, Occur, PhraseQuery, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{TantivyDocument, Term};

use super::analyzer;
use super::index::{room_hash, searchable_text, SearchIndex};
use super::newest::{self, Bounds, SortKey};
use super::query::ParsedQuery;
use crate::chat::model::Message;
use crate::ids::RoomId;
use crate::store::Store;

/// The longest snippet, in characters.
const SNIPPET_CHARS: usize = 200;

/// Up to this many rooms, the query itself is limited to them (see `filtered`).
const FEW_ROOMS: usize = 8;

/// Where the next page starts: just after this (sent_at, seq, tiebreak), the order of hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub sent_at_ms: u64,
    pub seq: u64,
    pub tiebreak: u64,
}

impl Cursor {
    fn key(self) -> SortKey {
        (self.sent_at_ms, self.seq, self.tiebreak)
    }

    fn from_key((sent_at_ms, seq, tiebreak): SortKey) -> Self {
        Self {
            sent_at_ms,
            seq,
            tiebreak,
        }
    }

    pub fn encode(self) -> String {
        format!("{:x}-{:x}-{:x}", self.sent_at_ms, self.seq, self.tiebreak)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text
            .split('-')
            .map(|part| u64::from_str_radix(part, 16).ok());
        let cursor = Self {
            sent_at_ms: parts.next()??,
            seq: parts.next()??,
            tiebreak: parts.next()??,
        };
        parts.next().is_none().then_some(cursor)
    }
}

/// What to look for, with every filter resolved.
pub struct Plan<'a> {
    pub parsed: &'a ParsedQuery,
    /// The rooms searched: those the caller may read, narrowed by the filters.
    pub rooms: Vec<RoomId>,
    pub author: Option<String>,
    pub before_ms: Option<u64>,
    pub after_ms: Option<u64>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
    pub deadline: Instant,
}

pub struct FoundMessage {
    pub message: Arc<Message>,
    pub snippet: String,
}

pub struct Found {
    pub hits: Vec<FoundMessage>,
    pub next_cursor: Option<Cursor>,
    pub truncated: bool,
}

/// Why a plan could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SearchFailure {
    /// Every word of the query is punctuation or too long, and no filter narrows it.
    #[error("nothing to search for: the query has no words")]
    NoWords,
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("reading a hit: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub fn run(index: &SearchIndex, store: &Store, plan: Plan<'_>) -> Result<Found, SearchFailure> {
    let nothing = Found {
        hits: Vec::new(),
        next_cursor: None,
        truncated: false,
    };
    if plan.rooms.is_empty() {
        return Ok(nothing);
    }
    let mut analyzer = analyzer::for_queries();
    let field = index.fields.text;
    let mut positive: Vec<Box<dyn Query>> = Vec::new();
    for text in &plan.parsed.required {
        if let Some(query) = words_query(&mut analyzer, field, text) {
            positive.push(query);
        }
    }
    let mut excluded: Vec<Box<dyn Query>> = Vec::new();
    for text in &plan.parsed.excluded {
        if let Some(query) = words_query(&mut analyzer, field, text) {
            excluded.push(query);
        }
    }
    let narrowed = plan.author.is_some()
        || plan.before_ms.is_some()
        || plan.after_ms.is_some()
        || plan.parsed.room_name.is_some();
    if positive.is_empty() && !narrowed && excluded.is_empty() {
        return Err(SearchFailure::NoWords);
    }
    let searcher = index.reader.searcher();
    let snippets = if positive.is_empty() {
        None
    } else {
        let words = BooleanQuery::new(
            positive
                .iter()
                .map(|q| (Occur::Must, q.box_clone()))
                .collect(),
        );
        let mut generator = SnippetGenerator::create(&searcher, &words, field)?;
        generator.set_max_num_chars(SNIPPET_CHARS);
        Some(generator)
    };
    let query = filtered(index, &plan, positive, excluded);
    let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher))?;
    let mut readable: Vec<u64> = plan.rooms.iter().map(|room| room_hash(*room)).collect();
    readable.sort_unstable();
    let newest_sent = match (plan.before_ms, plan.cursor) {
        (Some(0), _) => return Ok(nothing),
        (Some(before), Some(c)) => Some((before - 1).min(c.sent_at_ms)),
        (Some(before), None) => Some(before - 1),
        (None, Some(c)) => Some(c.sent_at_ms),
        (None, None) => None,
    };
    let bounds = Bounds {
        readable: &readable,
        newest_sent,
        oldest_sent: plan.after_ms,
        below: plan.cursor.map(Cursor::key),
    };
    let collected = newest::collect(
        &searcher,
        weight.as_ref(),
        &bounds,
        plan.limit + 1,
        plan.deadline,
    )?;
    let truncated = collected.truncated;
    let mut top = collected.hits;
    let next_cursor = if top.len() > plan.limit {
        top.truncate(plan.limit);
        top.last().map(|(key, _)| Cursor::from_key(*key))
    } else {
        None
    };
    let mut hits = Vec::with_capacity(top.len());
    for (_, address) in top {
        let doc: TantivyDocument = searcher.doc(address)?;
        if let Some(hit) = current(index, store, &doc, snippets.as_ref())? {
            hits.push(hit);
        }
    }
    Ok(Found {
        hits,
        next_cursor,
        truncated,
    })
}

/// A word or phrase as the index holds it: one term, or its terms in order.
fn words_query(
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    field: tantivy::schema::Field,
    text: &str,
) -> Option<Box<dyn Query>> {
    let terms = analyzer::terms(analyzer, text);
    match terms.as_slice() {
        [] => None,
        [(_, term)] => Some(Box::new(TermQuery::new(
            Term::from_field_text(field, term),
            IndexRecordOption::Basic,
        ))),
        [(first, _), ..] => {
            let first = *first;
            let offsets = terms
                .iter()
                .map(|(position, term)| (position - first, Term::from_field_text(field, term)))
                .collect();
            Some(Box::new(PhraseQuery::new_with_offset(offsets)))
        }
    }
}

fn filtered(
    index: &SearchIndex,
    plan: &Plan<'_>,
    positive: Vec<Box<dyn Query>>,
    excluded: Vec<Box<dyn Query>>,
) -> BooleanQuery {
    let f = &index.fields;
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if positive.is_empty() {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    clauses.extend(positive.into_iter().map(|q| (Occur::Must, q)));
    clauses.extend(excluded.into_iter().map(|q| (Occur::MustNot, q)));
    // A few rooms narrow the search up front; many (a member of most rooms) would make the term
    // set hold most of the index, so those are checked on the matches only (`run`).
    if plan.rooms.len() <= FEW_ROOMS {
        let rooms = plan.rooms.iter().map(|room| index.room_term(*room));
        clauses.push((Occur::Must, Box::new(TermSetQuery::new(rooms))));
    }
    if let Some(author) = &plan.author {
        let term = Term::from_field_text(f.author, author);
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        ));
    }
    BooleanQuery::new(clauses)
}

/// The hit as the store has it now, or None when the message is gone or changed since it was
/// indexed (the indexer is about to catch up).
fn current(
    index: &SearchIndex,
    store: &Store,
    doc: &TantivyDocument,
    snippets: Option<&SnippetGenerator>,
) -> Result<Option<FoundMessage>, SearchFailure> {
    let f = &index.fields;
    let room = doc
        .get_first(f.room)
        .and_then(|v| v.as_str())
        .and_then(|text| text.parse::<RoomId>().ok());
    let seq = doc.get_first(f.seq).and_then(|v| v.as_u64());
    let version = doc.get_first(f.version).and_then(|v| v.as_u64());
    let (Some(room), Some(seq), Some(version)) = (room, seq, version) else {
        return Ok(None);
    };
    let Some(record) = store.message(room, seq)? else {
        return Ok(None);
    };
    if record.changed_seq.unwrap_or(0) != version {
        return Ok(None);
    }
    let Some(text) = searchable_text(&record) else {
        return Ok(None);
    };
    let snippet = match snippets.map(|generator| generator.snippet(&text)) {
        Some(mut snippet) if !snippet.is_empty() => {
            snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
            snippet.to_html()
        }
        _ => escape_html(&text.chars().take(SNIPPET_CHARS).collect::<String>()),
    };
    Ok(Some(FoundMessage {
        message: Message::from_record(room, seq, record),
        snippet,
    }))
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Rooms by name, for `in:` (several rooms may share a name across kinds).
pub fn rooms_named(rooms: &HashMap<RoomId, String>, name: &str) -> Vec<RoomId> {
    let wanted = name.to_lowercase();
    rooms
        .iter()
        .filter(|(_, n)| n.to_lowercase() == wanted)
        .map(|(id, _)| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::{EncodedMessage, MessageRecord};

    /// An index and a store holding the same `count` messages of one room.
    fn indexed(count: u64) -> (tempfile::TempDir, Store, SearchIndex, RoomId) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db"), 16).expect("store");
        let (index, _) = SearchIndex::open(dir.path()).expect("index");
        let room = RoomId::from_bytes([7; 16]);
        let mut writer: tantivy::IndexWriter<TantivyDocument> = index
            .index
            .writer_with_num_threads(1, 20 << 20)
            .expect("writer");
        let mut encoded = Vec::new();
        for seq in 1..=count {
            let record = MessageRecord::new(
                "alice".into(),
                format!("budget word {seq}"),
                1_800_000_000_000 + seq,
                None,
            );
            writer
                .add_document(index.document(room, seq, &record).expect("text"))
                .expect("add");
            encoded.push(EncodedMessage::new(room, seq, &record));
        }
        writer.commit().expect("commit");
        index.reader.reload().expect("reload");
        store
            .append_messages(&encoded.iter().collect::<Vec<_>>())
            .expect("append");
        (dir, store, index, room)
    }

    fn plan(parsed: &ParsedQuery, room: RoomId, deadline: Instant) -> Plan<'_> {
        Plan {
            parsed,
            rooms: vec![room],
            author: None,
            before_ms: None,
            after_ms: None,
            limit: 10,
            cursor: None,
            deadline,
        }
    }

    #[test]
    fn a_search_past_its_time_budget_answers_what_it_has_marked_truncated() {
        let (_dir, store, index, room) = indexed(30);
        let parsed = super::super::query::parse("budget").expect("query");
        let in_time = run(
            &index,
            &store,
            plan(&parsed, room, Instant::now() + Duration::from_secs(60)),
        )
        .expect("search");
        assert_eq!(in_time.hits.len(), 10);
        assert!(!in_time.truncated);
        assert!(in_time.next_cursor.is_some());
        assert_eq!(in_time.hits[0].snippet, "<mark>budget</mark> word 30");

        let late = run(&index, &store, plan(&parsed, room, Instant::now())).expect("search");
        assert!(
            late.truncated,
            "the budget was spent before the first segment"
        );
        assert!(late.hits.is_empty());
        assert!(late.next_cursor.is_none());
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor {
            sent_at_ms: 1_800_000_000_123,
            seq: 42,
            tiebreak: u64::MAX,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "1-2", "1-2-3-4", "x-1-2", "1--2", "-1-2-3"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
