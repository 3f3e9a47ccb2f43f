//! Collecting the newest matches of a query. Every segment of the index is sorted by `sent_at`,
//! newest first (`index.rs`), so a segment is read from its first document that can be a hit
//! and left as soon as its documents are older than the oldest hit kept: a common word costs
//! about as much as a rare one, instead of one fast-field read per match in the whole index.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use tantivy::columnar::Column;
use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, DocSet, Searcher, SegmentReader, TERMINATED};

use super::index;

/// The order of hits: (sent_at, seq, tiebreak), newest first.
pub type SortKey = (u64, u64, u64);

/// How many matches are read between two looks at the clock.
const DOCS_BETWEEN_CLOCK_CHECKS: u32 = 1024;

/// What a hit must satisfy besides the query.
pub struct Bounds<'a> {
    /// Hashes of the rooms the caller may read (`index::room_hash`), sorted.
    pub readable: &'a [u64],
    /// The newest `sent_at` a hit may have (from `before:` and the cursor), inclusive.
    pub newest_sent: Option<u64>,
    /// The oldest `sent_at` a hit may have (`after:`), inclusive.
    pub oldest_sent: Option<u64>,
    /// Hits come strictly after this key (the page before ended there).
    pub below: Option<SortKey>,
}

/// The `wanted` newest matches seen so far.
struct Newest {
    wanted: usize,
    kept: BinaryHeap<Reverse<(SortKey, DocAddress)>>,
}

/// What a collection found, newest first, and whether it ran out of time first.
pub struct Collected {
    pub hits: Vec<(SortKey, DocAddress)>,
    pub truncated: bool,
}

impl Newest {
    fn new(wanted: usize) -> Self {
        Self {
            wanted,
            kept: BinaryHeap::with_capacity(wanted + 1),
        }
    }

    /// Once full, a match sent before this can no longer be kept.
    fn floor(&self) -> Option<u64> {
        if self.kept.len() < self.wanted {
            return None;
        }
        self.kept.peek().map(|Reverse((key, _))| key.0)
    }

    fn offer(&mut self, key: SortKey, address: DocAddress) {
        if self.kept.len() < self.wanted {
            self.kept.push(Reverse((key, address)));
        } else if self
            .kept
            .peek()
            .is_some_and(|Reverse(oldest)| key > oldest.0)
        {
            self.kept.pop();
            self.kept.push(Reverse((key, address)));
        }
    }

    fn newest_first(self) -> Vec<(SortKey, DocAddress)> {
        // Ascending order of `Reverse` is descending order of the keys.
        self.kept
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(hit)| hit)
            .collect()
    }
}

/// The `wanted` newest documents matching `weight` within `bounds`, read until `deadline`.
pub fn collect(
    searcher: &Searcher,
    weight: &dyn Weight,
    bounds: &Bounds<'_>,
    wanted: usize,
    deadline: Instant,
) -> tantivy::Result<Collected> {
    let mut newest = Newest::new(wanted);
    let mut segments = Vec::new();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let columns = Columns::of(segment)?;
        segments.push((columns.sent.max_value(), ord as u32, segment, columns));
    }
    // The segment holding the newest documents first: its hits raise the floor the others
    // are cut at.
    segments.sort_by_key(|(newest_in_segment, ..)| Reverse(*newest_in_segment));
    let mut truncated = false;
    for (newest_in_segment, ord, segment, columns) in segments {
        if newest
            .floor()
            .is_some_and(|floor| newest_in_segment < floor)
        {
            break;
        }
        let in_time = Instant::now() < deadline
            && scan_segment(
                weight,
                ord,
                segment,
                &columns,
                bounds,
                &mut newest,
                deadline,
            )?;
        if !in_time {
            truncated = true;
            break;
        }
    }
    Ok(Collected {
        hits: newest.newest_first(),
        truncated,
    })
}

struct Columns {
    sent: Column<u64>,
    seq: Column<u64>,
    tiebreak: Column<u64>,
    room_hash: Column<u64>,
}

impl Columns {
    fn of(segment: &SegmentReader) -> tantivy::Result<Self> {
        let fast = segment.fast_fields();
        Ok(Self {
            sent: fast.u64(index::SENT_AT)?,
            seq: fast.u64(index::SEQ)?,
            tiebreak: fast.u64(index::TIEBREAK)?,
            room_hash: fast.u64(index::ROOM_HASH)?,
        })
    }
}

/// Offers one segment's matches to `newest`, newest first, until they are too old to be kept;
/// false when the deadline passed first.
fn scan_segment(
    weight: &dyn Weight,
    ord: u32,
    segment: &SegmentReader,
    columns: &Columns,
    bounds: &Bounds<'_>,
    newest: &mut Newest,
    deadline: Instant,
) -> tantivy::Result<bool> {
    let max_doc = segment.max_doc();
    let start = match bounds.newest_sent {
        Some(newest_sent) => first_sent_at_or_before(&columns.sent, newest_sent, max_doc),
        None => 0,
    };
    if start >= max_doc {
        return Ok(true);
    }
    let mut scorer = weight.scorer(segment, 1.0)?;
    let mut doc = scorer.doc();
    if doc != TERMINATED && doc < start {
        doc = scorer.seek(start);
    }
    let alive = segment.alive_bitset();
    let mut read: u32 = 0;
    while doc != TERMINATED {
        read += 1;
        if read % DOCS_BETWEEN_CLOCK_CHECKS == 0 && Instant::now() >= deadline {
            return Ok(false);
        }
        if alive.map_or(true, |alive| alive.is_alive(doc)) {
            if let Some(sent) = columns.sent.first(doc) {
                let too_old = bounds.oldest_sent.is_some_and(|oldest| sent < oldest)
                    || newest.floor().is_some_and(|floor| sent < floor);
                if too_old {
                    // Sorted newest first: every later document is older still.
                    break;
                }
                if let Some(key) = hit_key(columns, bounds, doc, sent) {
                    newest.offer(key, DocAddress::new(ord, doc));
                }
            }
        }
        doc = scorer.advance();
    }
    Ok(true)
}

/// The document's order key when it may be a hit: readable room, and after the cursor.
fn hit_key(columns: &Columns, bounds: &Bounds<'_>, doc: DocId, sent: u64) -> Option<SortKey> {
    let room = columns.room_hash.first(doc)?;
    if bounds.readable.binary_search(&room).is_err() {
        return None;
    }
    let key = (sent, columns.seq.first(doc)?, columns.tiebreak.first(doc)?);
    match bounds.below {
        Some(below) if key >= below => None,
        _ => Some(key),
    }
}

/// The first document (in a segment sorted by `sent_at`, newest first) sent at or before
/// `newest_sent`; `max_doc` when there is none.
fn first_sent_at_or_before(sent: &Column<u64>, newest_sent: u64, max_doc: DocId) -> DocId {
    let (mut low, mut high) = (0, max_doc);
    while low < high {
        let middle = low + (high - low) / 2;
        if sent.first(middle).unwrap_or(0) <= newest_sent {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tantivy::query::{EnableScoring, Query, TermQuery};
    use tantivy::schema::IndexRecordOption;
    use tantivy::{TantivyDocument, Term};

    use super::*;
    use crate::ids::RoomId;
    use crate::search::index::{room_hash, tiebreak, SearchIndex};
    use crate::store::MessageRecord;

    struct Indexed {
        room: RoomId,
        seq: u64,
        sent: u64,
        beta: bool,
        deleted: bool,
    }

    /// Several segments, each written out of time order, some documents deleted afterwards.
    fn index_out_of_order() -> (tempfile::TempDir, SearchIndex, Vec<Indexed>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (index, _) = SearchIndex::open(dir.path()).expect("index");
        let mut writer: tantivy::IndexWriter<TantivyDocument> = index
            .index
            .writer_with_num_threads(1, 20 << 20)
            .expect("writer");
        let rooms = [1u8, 2, 3].map(|b| RoomId::from_bytes([b; 16]));
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut random = move |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let mut docs = Vec::new();
        for batch in 0..5u64 {
            for n in 0..200u64 {
                let seq = batch * 200 + n + 1;
                let room = rooms[random(3) as usize];
                // Few distinct times, so ties on sent_at are common and pages cut through them.
                let sent = 1_800_000_000_000 + random(300);
                let beta = random(3) == 0;
                let body = if beta { "alpha beta" } else { "alpha" };
                let record = MessageRecord::new("alice".into(), body.into(), sent, None);
                writer
                    .add_document(index.document(room, seq, &record).expect("text"))
                    .expect("add");
                docs.push(Indexed {
                    room,
                    seq,
                    sent,
                    beta,
                    deleted: false,
                });
            }
            writer.commit().expect("commit");
        }
        for doc in docs.iter_mut().filter(|d| d.seq % 7 == 0) {
            writer.delete_term(index.message_term(doc.room, doc.seq));
            doc.deleted = true;
        }
        writer.commit().expect("commit");
        index.reader.reload().expect("reload");
        (dir, index, docs)
    }

    #[test]
    fn pages_of_the_newest_hits_match_a_full_sort_across_unordered_segments() {
        let (_dir, index, docs) = index_out_of_order();
        let searcher = index.reader.searcher();
        assert!(searcher.segment_readers().len() > 1, "several segments");
        let query = TermQuery::new(
            Term::from_field_text(index.fields.text, "beta"),
            IndexRecordOption::Basic,
        );
        let weight = query
            .weight(EnableScoring::disabled_from_searcher(&searcher))
            .expect("weight");
        let readable_rooms = [RoomId::from_bytes([1; 16]), RoomId::from_bytes([2; 16])];
        let mut readable: Vec<u64> = readable_rooms.iter().map(|r| room_hash(*r)).collect();
        readable.sort_unstable();
        let (oldest, newest) = (1_800_000_000_040, 1_800_000_000_250);
        let mut expected: Vec<SortKey> = docs
            .iter()
            .filter(|d| d.beta && !d.deleted && readable_rooms.contains(&d.room))
            .filter(|d| (oldest..=newest).contains(&d.sent))
            .map(|d| (d.sent, d.seq, tiebreak(d.room, d.seq)))
            .collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        assert!(expected.len() > 50, "enough hits for several pages");

        let page = 7;
        let mut found = Vec::new();
        let mut below: Option<SortKey> = None;
        loop {
            let bounds = Bounds {
                readable: &readable,
                newest_sent: Some(below.map_or(newest, |key| key.0.min(newest))),
                oldest_sent: Some(oldest),
                below,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            let collected =
                collect(&searcher, weight.as_ref(), &bounds, page + 1, deadline).expect("collect");
            assert!(!collected.truncated);
            let mut keys: Vec<SortKey> = collected.hits.iter().map(|(key, _)| *key).collect();
            let more = keys.len() > page;
            keys.truncate(page);
            found.extend(keys.iter().copied());
            if !more {
                break;
            }
            below = keys.last().copied();
        }
        assert_eq!(found, expected);
    }
}
