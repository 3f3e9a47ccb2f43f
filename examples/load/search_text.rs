//! The `search` scenario's text: chat messages made of words drawn from a fixed vocabulary with
//! Zipf-like frequencies (the word of rank k about 1/k^s as often as the most common one), and
//! the queries asked of them. Common words then match most messages and the tail few, as in real
//! chat; that spread, not the words themselves, is what a search index's cost depends on.
//!
//! The vocabulary starts with real chat words, most common first, and goes on with made-up
//! words of three consonant-vowel syllables (`bakori`): lower-case letters only, so the
//! analyzer (src/search/analyzer.rs) keeps each one a single term.

use std::collections::HashSet;

use crate::history::XorShift;

/// The head of the vocabulary, roughly in the order chat uses them.
const CHAT_WORDS: &str = "the i you to a and it is that we for on this in of be can just do \
    have so but not with are at will what was my me if get all about now up out there know like \
    think yes no ok thanks good one more time today need see should could would let make want \
    go going also here how when they from your our some any new check still done fix work build \
    test deploy release meeting call tomorrow week later soon update issue bug review branch \
    merge server client team please sure great cool nice right well back first last next again \
    maybe really yeah hey hi morning lunch coffee friday monday plan idea question answer \
    problem thing stuff people everyone someone something nothing looks working broken slow \
    fast data file page link doc docs code change changes version config log logs error errors \
    users user room chat message night weekend office home remote ticket sprint demo customer \
    design api database cache query index search";

const CONSONANTS: &[u8] = b"bdfghklmnprstvz";
const VOWELS: &[u8] = b"aeiou";

/// Words with Zipf-like frequencies: `sample` draws a rank (0 is the most common word).
pub struct Vocabulary {
    words: Vec<String>,
    /// Cumulative weights, `cumulative[k]` = sum of 1/(i+1)^s for i <= k.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    /// `size` words (at least the chat words' count), weighted 1/rank^`exponent`.
    pub fn new(size: usize, exponent: f64) -> Self {
        let mut seen = HashSet::new();
        let mut words: Vec<String> = CHAT_WORDS
            .split_whitespace()
            .filter(|w| seen.insert(w.to_string()))
            .map(str::to_string)
            .collect();
        let mut made = 0usize;
        while words.len() < size {
            let word = made_up(made);
            made += 1;
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        words.truncate(size.max(1));
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|rank| {
                total += 1.0 / ((rank + 1) as f64).powf(exponent);
                total
            })
            .collect();
        Self { words, cumulative }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn word(&self, rank: u32) -> &str {
        &self.words[rank as usize]
    }

    /// One rank, drawn with the vocabulary's weights.
    pub fn sample(&self, rng: &mut XorShift) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let point = unit(rng) * total;
        let rank = self.cumulative.partition_point(|&c| c < point);
        rank.min(self.words.len() - 1) as u32
    }

    /// The words of one message: 5 to 20 of them.
    pub fn message(&self, rng: &mut XorShift) -> Vec<u32> {
        let count = 5 + (rng.next() % 16) as usize;
        (0..count).map(|_| self.sample(rng)).collect()
    }

    /// A message's text as a person would type it: capitalised, sometimes punctuated.
    pub fn text(&self, ranks: &[u32], rng: &mut XorShift) -> String {
        let mut text = String::with_capacity(ranks.len() * 7);
        for (i, &rank) in ranks.iter().enumerate() {
            let word = self.word(rank);
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push(' ');
                text.push_str(word);
            }
        }
        text.push_str(["", "", ".", "?", "!"][(rng.next() % 5) as usize]);
        text
    }
}

/// Made-up word number `n`: three syllables (four past the 75^3 three-syllable words), e.g.
/// `bakori`.
fn made_up(n: usize) -> String {
    let syllables = CONSONANTS.len() * VOWELS.len();
    let count = if n < syllables.pow(3) { 3 } else { 4 };
    let mut rest = n;
    let mut word = String::with_capacity(count * 2);
    for _ in 0..count {
        let syllable = rest % syllables;
        rest /= syllables;
        word.push(CONSONANTS[syllable / VOWELS.len()] as char);
        word.push(VOWELS[syllable % VOWELS.len()] as char);
    }
    word
}

/// A uniform number in [0, 1).
fn unit(rng: &mut XorShift) -> f64 {
    (rng.next() >> 11) as f64 / (1u64 << 53) as f64
}

/// A word no message holds (lower-case letters only, one term): `zq` and `n` in base 26, with
/// `salt` so that runs against one `--url` server do not find each other's probes.
pub fn probe_token(salt: u64, n: u64) -> String {
    let mut token = String::from("zq");
    for mut value in [n, salt] {
        loop {
            token.push((b'a' + (value % 26) as u8) as char);
            value /= 26;
            if value == 0 {
                break;
            }
        }
        token.push('q');
    }
    token
}

/// The kinds of query the searchers ask, in turn.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// One of the most common words: matches most messages, newest first.
    Common,
    /// The rarest word of a seeded message: matches few.
    Rare,
    /// Two words of one seeded message (both must match).
    TwoWords,
    /// Two or three consecutive words of a seeded message, quoted.
    Phrase,
}

impl QueryKind {
    pub const ALL: [QueryKind; 4] = [
        QueryKind::Common,
        QueryKind::Rare,
        QueryKind::TwoWords,
        QueryKind::Phrase,
    ];

    /// The JSON key part.
    pub fn key(self) -> &'static str {
        match self {
            QueryKind::Common => "common",
            QueryKind::Rare => "rare",
            QueryKind::TwoWords => "two_words",
            QueryKind::Phrase => "phrase",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            QueryKind::Common => "one common word",
            QueryKind::Rare => "one rare word",
            QueryKind::TwoWords => "two words",
            QueryKind::Phrase => "\"phrase\"",
        }
    }
}

/// Makes queries from the vocabulary and a sample of the messages actually seeded, so that the
/// rare words, pairs and phrases asked are ones some message holds.
pub struct Queries {
    pub vocabulary: std::sync::Arc<Vocabulary>,
    pub samples: Vec<Vec<u32>>,
    /// The words of rank below this count as common.
    pub common: usize,
}

impl Queries {
    pub fn make(&self, kind: QueryKind, rng: &mut XorShift) -> String {
        let vocabulary = &self.vocabulary;
        let pick = |rng: &mut XorShift, n: usize| (rng.next() % n.max(1) as u64) as usize;
        let Some(sample) = (!self.samples.is_empty())
            .then(|| &self.samples[pick(rng, self.samples.len())])
            .filter(|s| s.len() >= 2)
        else {
            // Nothing seeded: words of the vocabulary, which may match nothing.
            return vocabulary
                .word(pick(rng, vocabulary.len()) as u32)
                .to_string();
        };
        match kind {
            QueryKind::Common => vocabulary
                .word(pick(rng, self.common.min(vocabulary.len())) as u32)
                .to_string(),
            QueryKind::Rare => {
                let rarest = sample.iter().copied().max().unwrap_or(0);
                vocabulary.word(rarest).to_string()
            }
            QueryKind::TwoWords => {
                let first = sample[pick(rng, sample.len())];
                // Another word of the message if it has one.
                let second = sample
                    .iter()
                    .copied()
                    .cycle()
                    .skip(pick(rng, sample.len()))
                    .take(sample.len())
                    .find(|&w| w != first)
                    .unwrap_or(first);
                format!("{} {}", vocabulary.word(first), vocabulary.word(second))
            }
            QueryKind::Phrase => {
                let length = (2 + pick(rng, 2)).min(sample.len());
                let start = pick(rng, sample.len() - length + 1);
                let words: Vec<&str> = sample[start..start + length]
                    .iter()
                    .map(|&w| vocabulary.word(w))
                    .collect();
                format!("\"{}\"", words.join(" "))
            }
        }
    }
}

/// Keeps a uniform sample of at most `capacity` of the messages offered (reservoir sampling).
pub struct Reservoir {
    pub kept: Vec<Vec<u32>>,
    capacity: usize,
    seen: u64,
}

impl Reservoir {
    pub fn new(capacity: usize) -> Self {
        Self {
            kept: Vec::with_capacity(capacity),
            capacity,
            seen: 0,
        }
    }

    pub fn offer(&mut self, message: Vec<u32>, rng: &mut XorShift) {
        self.seen += 1;
        if self.kept.len() < self.capacity {
            self.kept.push(message);
        } else {
            let slot = (rng.next() % self.seen) as usize;
            if slot < self.capacity {
                self.kept[slot] = message;
            }
        }
    }
}
