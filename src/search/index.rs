//! The tantivy index on disk: its schema, how a message becomes a document, and opening it
//! (or deciding it must be rebuilt). The index is derived data in `<data>/search`: the store
//! is the truth, and anything wrong here is repaired by reading the store again.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STORED, STRING,
};
use tantivy::{
    Index, IndexReader, IndexSettings, IndexSortByField, Order, ReloadPolicy, TantivyDocument, Term,
};

use super::analyzer;
use crate::chat::markdown::plain_text;
use crate::ids::RoomId;
use crate::store::MessageRecord;

/// Bumped whenever the schema or the analyzer changes: an index written with another version
/// is rebuilt at start.
pub const SCHEMA_VERSION: u32 = 3;

/// Names of the fast fields a search reads per match (`newest.rs`).
pub const SENT_AT: &str = "sent_at";
pub const SEQ: &str = "seq";
pub const TIEBREAK: &str = "tiebreak";
pub const ROOM_HASH: &str = "room_hash";

/// The folder inside the data directory.
pub const DIR_NAME: &str = "search";

#[derive(Clone, Copy)]
pub struct Fields {
    /// `<room>/<seq>`: what an edit or a deletion replaces.
    pub key: Field,
    pub room: Field,
    /// The author's username, lower case (`from:`).
    pub author: Field,
    pub seq: Field,
    /// The message's last change number when indexed (0 before any): a hit whose message has
    /// changed since is not shown until it is indexed again.
    pub version: Field,
    pub sent_at: Field,
    /// A hash of room and seq: breaks ties between messages of different rooms sent in the
    /// same millisecond (within a room, seq does), so pages never skip or repeat one.
    pub tiebreak: Field,
    /// A hash of the room, so the rooms a caller may read are checked on the matches only,
    /// not by a term set holding every document of those rooms.
    pub room_hash: Field,
    pub text: Field,
}

/// What the last commit says about the index, kept in tantivy's commit payload.
#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    pub schema: u32,
    /// False while a rebuild is under way: an index found so at start is rebuilt again.
    pub complete: bool,
}

pub struct SearchIndex {
    pub index: Index,
    pub fields: Fields,
    pub reader: IndexReader,
}

/// Why an index has to be rebuilt from the store.
#[derive(Debug)]
pub enum Rebuild {
    Missing,
    Unreadable(String),
    OlderSchema(u32),
    Interrupted,
}

impl std::fmt::Display for Rebuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rebuild::Missing => write!(f, "there is no search index yet"),
            Rebuild::Unreadable(why) => write!(f, "the search index cannot be read ({why})"),
            Rebuild::OlderSchema(v) => write!(
                f,
                "the search index has schema version {v}, this confab writes {SCHEMA_VERSION}"
            ),
            Rebuild::Interrupted => {
                write!(f, "the last rebuild of the search index was interrupted")
            }
        }
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text_indexing = TextFieldIndexing::default()
        .set_tokenizer(analyzer::ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let fields = Fields {
        key: builder.add_text_field("key", STRING),
        room: builder.add_text_field("room", STRING | STORED),
        author: builder.add_text_field("author", STRING),
        seq: builder.add_u64_field(SEQ, STORED | FAST),
        version: builder.add_u64_field("version", STORED),
        sent_at: builder.add_u64_field(SENT_AT, FAST),
        tiebreak: builder.add_u64_field(TIEBREAK, FAST),
        room_hash: builder.add_u64_field(ROOM_HASH, FAST),
        text: builder.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(text_indexing),
        ),
    };
    (builder.build(), fields)
}

impl SearchIndex {
    /// Opens the index in `data/search`, creating an empty one when it is missing, unreadable
    /// or of another schema; says why when the caller must then fill it from the store.
    pub fn open(data: &Path) -> tantivy::Result<(Self, Option<Rebuild>)> {
        let dir = data.join(DIR_NAME);
        let opened = if dir.join("meta.json").exists() {
            match Self::open_existing(&dir) {
                Ok((index, payload)) => match payload {
                    Some(p) if p.schema != SCHEMA_VERSION => Err(Rebuild::OlderSchema(p.schema)),
                    Some(p) if !p.complete => Ok((index, Some(Rebuild::Interrupted))),
                    Some(_) => Ok((index, None)),
                    // Created, never committed: nothing in it yet.
                    None => Ok((index, Some(Rebuild::Interrupted))),
                },
                Err(err) => Err(Rebuild::Unreadable(err.to_string())),
            }
        } else {
            Err(Rebuild::Missing)
        };
        match opened {
            Ok((index, rebuild)) => Ok((index, rebuild)),
            Err(why) => Ok((Self::create(&dir)?, Some(why))),
        }
    }

    fn open_existing(dir: &Path) -> tantivy::Result<(Self, Option<Payload>)> {
        let index = Index::open_in_dir(dir)?;
        let payload = index
            .load_metas()?
            .payload
            .and_then(|text| serde_json::from_str::<Payload>(&text).ok());
        let (_, fields) = schema();
        let this = Self::wrap(index, fields)?;
        // Opening every segment reader checks that the files are there and readable.
        this.reader.reload()?;
        Ok((this, payload))
    }

    fn create(dir: &Path) -> tantivy::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        // Newest first, so a search stops reading a segment once its documents are older than
        // the hits it has (`newest.rs`).
        let settings = IndexSettings {
            sort_by_field: Some(IndexSortByField {
                field: SENT_AT.into(),
                order: Order::Desc,
            }),
            ..IndexSettings::default()
        };
        let index = Index::builder()
            .schema(schema)
            .settings(settings)
            .create_in_dir(dir)?;
        Self::wrap(index, fields)
    }

    fn wrap(index: Index, fields: Fields) -> tantivy::Result<Self> {
        index
            .tokenizers()
            .register(analyzer::ANALYZER, analyzer::for_documents());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            fields,
            reader,
        })
    }

    pub fn message_term(&self, room: RoomId, seq: u64) -> Term {
        Term::from_field_text(self.fields.key, &message_key(room, seq))
    }

    pub fn room_term(&self, room: RoomId) -> Term {
        Term::from_field_text(self.fields.room, &room.to_string())
    }

    /// The document for a message, or None when there is nothing to find in it (deleted,
    /// encrypted, or no words).
    pub fn document(
        &self,
        room: RoomId,
        seq: u64,
        record: &MessageRecord,
    ) -> Option<TantivyDocument> {
        let text = searchable_text(record)?;
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, message_key(room, seq));
        doc.add_text(f.room, room.to_string());
        doc.add_text(f.author, record.author.to_lowercase());
        doc.add_u64(f.seq, seq);
        doc.add_u64(f.version, record.changed_seq.unwrap_or(0));
        doc.add_u64(f.sent_at, record.sent_at_ms);
        doc.add_u64(f.tiebreak, tiebreak(room, seq));
        doc.add_u64(f.room_hash, room_hash(room));
        doc.add_text(f.text, text);
        Some(doc)
    }
}

/// What is searchable in a message: its text as readers see it (Markdown syntax dropped) and
/// the names of its files. Encrypted messages are never indexed: the server cannot read them.
pub fn searchable_text(record: &MessageRecord) -> Option<String> {
    if record.deleted || record.encrypted.is_some() {
        return None;
    }
    let mut text = plain_text(&record.body);
    for attachment in &record.attachments {
        text.push('\n');
        text.push_str(&attachment.name);
    }
    (!text.trim().is_empty()).then_some(text)
}

fn message_key(room: RoomId, seq: u64) -> String {
    format!("{room}/{seq:x}")
}

/// A stable 64-bit mix of room and seq (FNV-1a): equal only for the same message, in practice.
pub fn tiebreak(room: RoomId, seq: u64) -> u64 {
    fnv1a(room.to_bytes().iter().chain(seq.to_be_bytes().iter()))
}

/// A stable 64-bit hash of a room id (FNV-1a).
pub fn room_hash(room: RoomId) -> u64 {
    fnv1a(room.to_bytes().iter())
}

fn fnv1a<'b>(bytes: impl Iterator<Item = &'b u8>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
