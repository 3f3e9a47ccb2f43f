//! How message text becomes search terms, the same way for documents and queries: words of any
//! script that writes spaces; Chinese and Japanese runs as overlapping pairs of characters
//! (bigrams), since they write no spaces and a dictionary would weigh more than the rest of the
//! server; each emoji a term of its own; code identifiers (`foo_bar`, `FooBar`, `HTTPServer`) as
//! their parts, and, in documents, whole as well. Then lower case and accents folded (`Müller`
//! finds `muller`, `Straße` finds `strasse`).

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The name the analyzer is registered under in the index's schema.
pub const ANALYZER: &str = "confab";

/// Terms longer than this (in bytes, after folding) are dropped: base64 blobs and URLs'
/// tracking parameters would only bloat the term dictionary.
const MAX_TERM_BYTES: usize = 64;

/// The analyzer for message text in the index (identifiers are indexed whole too).
pub fn for_documents() -> TextAnalyzer {
    build(ChatTokenizer {
        whole_identifiers: true,
        tokens: Vec::new(),
    })
}

/// The analyzer for query words: identifiers only as parts, so `FooBar` asks for `foo` then
/// `bar` (which `foo_bar` and `FooBar` both hold), while a plain `foobar` still finds `FooBar`
/// through its whole form.
pub fn for_queries() -> TextAnalyzer {
    build(ChatTokenizer {
        whole_identifiers: false,
        tokens: Vec::new(),
    })
}

fn build(tokenizer: ChatTokenizer) -> TextAnalyzer {
    TextAnalyzer::builder(tokenizer)
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(RemoveLongFilter::limit(MAX_TERM_BYTES))
        .build()
}

/// The terms of `text` with their positions, as the index sees them.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while let Some(token) = stream.next() {
        terms.push((token.position, token.text.clone()));
    }
    terms
}

#[derive(Clone)]
struct ChatTokenizer {
    whole_identifiers: bool,
    tokens: Vec<Token>,
}

impl Tokenizer for ChatTokenizer {
    type TokenStream<'a> = Tokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Tokens<'a> {
        self.tokens.clear();
        let mut split = Splitter {
            text,
            tokens: &mut self.tokens,
            position: 0,
        };
        split.run(self.whole_identifiers);
        Tokens {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// The tokens of one text, made up front (a message is short).
struct Tokens<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl TokenStream for Tokens<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Letters and digits of scripts that separate words with spaces; `_` joins them into one
    /// identifier.
    Word,
    /// Han, hiragana, katakana: no spaces between words.
    Ideograph,
    Emoji,
    /// Spaces, punctuation, joiners and variation selectors.
    Separator,
}

fn class_of(c: char) -> Class {
    let code = c as u32;
    let ideograph = matches!(code,
        0x3040..=0x30FF        // hiragana, katakana
        | 0x31F0..=0x31FF      // katakana phonetic extensions
        | 0x3400..=0x4DBF      // CJK extension A
        | 0x4E00..=0x9FFF      // CJK unified ideographs
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0xFF66..=0xFF9F      // half-width katakana
        | 0x20000..=0x3134F); // CJK extensions B-G
    let emoji = matches!(code,
        0x1F000..=0x1FAFF      // emoticons, pictographs, transport, symbols and pictographs
        | 0x2600..=0x27BF      // miscellaneous symbols, dingbats
        | 0x2B00..=0x2BFF      // arrows and stars (⭐)
        | 0x2300..=0x23FF); // technical (⌛, ⏰)
    if ideograph {
        Class::Ideograph
    } else if emoji {
        Class::Emoji
    } else if c.is_alphanumeric() || c == '_' {
        Class::Word
    } else {
        Class::Separator
    }
}

struct Splitter<'t, 'v> {
    text: &'t str,
    tokens: &'v mut Vec<Token>,
    position: usize,
}

impl Splitter<'_, '_> {
    fn run(&mut self, whole_identifiers: bool) {
        let mut run_start = 0;
        let mut run_class = Class::Separator;
        for (at, c) in self.text.char_indices().chain([(self.text.len(), ' ')]) {
            let class = class_of(c);
            if class == run_class && class != Class::Emoji {
                continue;
            }
            let run = &self.text[run_start..at];
            match run_class {
                Class::Word => self.word(run_start, run, whole_identifiers),
                Class::Ideograph => self.bigrams(run_start, run),
                Class::Emoji => self.push(run_start, run, self.position),
                Class::Separator => {}
            }
            run_start = at;
            run_class = class;
        }
    }

    fn push(&mut self, offset: usize, text: &str, position: usize) {
        self.tokens.push(Token {
            offset_from: offset,
            offset_to: offset + text.len(),
            position,
            text: text.to_string(),
            position_length: 1,
        });
        self.position = position + 1;
    }

    /// A word, or an identifier made of parts (`foo_bar`, `fooBar`, `HTTPServer`, `v2_api`).
    fn word(&mut self, offset: usize, word: &str, whole_identifiers: bool) {
        let parts = identifier_parts(word);
        match parts.as_slice() {
            [] => {}
            [(start, part)] => self.push(offset + start, part, self.position),
            [(first_start, first), rest @ ..] => {
                let first_position = self.position;
                if whole_identifiers {
                    let whole: String = parts.iter().map(|(_, p)| *p).collect();
                    let end = rest.last().map_or(0, |(s, p)| s + p.len());
                    self.tokens.push(Token {
                        offset_from: offset + first_start,
                        offset_to: offset + end,
                        position: first_position,
                        text: whole,
                        position_length: 1,
                    });
                }
                self.push(offset + first_start, first, first_position);
                for (start, part) in rest {
                    self.push(offset + start, part, self.position);
                }
            }
        }
    }

    /// Overlapping pairs of characters at consecutive positions, so a phrase of them is a
    /// phrase query; a lone character is a term of its own.
    fn bigrams(&mut self, offset: usize, run: &str) {
        let starts: Vec<usize> = run.char_indices().map(|(i, _)| i).collect();
        if starts.len() == 1 {
            self.push(offset, run, self.position);
            return;
        }
        for pair in 0..starts.len() - 1 {
            let end = starts.get(pair + 2).copied().unwrap_or(run.len());
            let text = &run[starts[pair]..end];
            self.push(offset + starts[pair], text, self.position);
        }
    }
}

/// The parts of an identifier with their byte offsets: split at `_`, at a lower-case letter or
/// digit followed by an upper-case one (`fooBar`), and before the last capital of a run of
/// capitals followed by lower case (`HTTPServer` -> `HTTP`, `Server`).
fn identifier_parts(word: &str) -> Vec<(usize, &str)> {
    let mut parts = Vec::new();
    for (segment_start, segment) in split_keeping_offsets(word, '_') {
        let chars: Vec<(usize, char)> = segment.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (prev, here) = (chars[i - 1].1, chars[i].1);
            let next_is_lower = chars.get(i + 1).is_some_and(|(_, c)| c.is_lowercase());
            let boundary = ((prev.is_lowercase() || prev.is_numeric()) && here.is_uppercase())
                || (prev.is_uppercase() && here.is_uppercase() && next_is_lower);
            if boundary {
                parts.push((segment_start + start, &segment[start..chars[i].0]));
                start = chars[i].0;
            }
        }
        parts.push((segment_start + start, &segment[start..]));
    }
    parts
}

fn split_keeping_offsets(text: &str, separator: char) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    text.split(separator)
        .map(move |piece| {
            let at = start;
            start += piece.len() + separator.len_utf8();
            (at, piece)
        })
        .filter(|(_, piece)| !piece.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_terms(text: &str) -> Vec<(usize, String)> {
        terms(&mut for_documents(), text)
    }

    fn query_terms(text: &str) -> Vec<String> {
        terms(&mut for_queries(), text)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    #[test]
    fn words_are_lowercased_and_accents_folded() {
        let found = doc_terms("Müller bestellt Straße, Café!");
        let texts: Vec<&str> = found.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["muller", "bestellt", "strasse", "cafe"]);
        assert_eq!(
            found.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn chinese_and_japanese_become_bigrams_at_consecutive_positions() {
        assert_eq!(
            doc_terms("我们明天开会"),
            [
                (0, "我们"),
                (1, "们明"),
                (2, "明天"),
                (3, "天开"),
                (4, "开会")
            ]
            .map(|(p, t)| (p, t.to_string()))
        );
        assert_eq!(query_terms("東京タワー"), ["東京", "京タ", "タワ", "ワー"]);
        assert_eq!(query_terms("猫"), ["猫"]);
        // Mixed with Latin: each script by its own rule.
        assert_eq!(query_terms("deploy到生产"), ["deploy", "到生", "生产"]);
    }

    #[test]
    fn each_emoji_is_a_term() {
        assert_eq!(query_terms("ship it 🚀🎉"), ["ship", "it", "🚀", "🎉"]);
        assert_eq!(query_terms("👍🏽"), ["👍", "🏽"]);
    }

    #[test]
    fn identifiers_are_found_by_their_parts_and_whole() {
        let found = doc_terms("call parse_room_id or HTTPServer");
        let texts: Vec<&str> = found.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "call",
                "parseroomid",
                "parse",
                "room",
                "id",
                "or",
                "httpserver",
                "http",
                "server"
            ]
        );
        let positions: Vec<usize> = found.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, [0, 1, 1, 2, 3, 4, 5, 5, 6]);
        assert_eq!(query_terms("FooBar"), ["foo", "bar"]);
        assert_eq!(query_terms("foo_bar"), ["foo", "bar"]);
        assert_eq!(query_terms("foobar"), ["foobar"]);
        assert_eq!(query_terms("utf8Decoder"), ["utf8", "decoder"]);
    }

    #[test]
    fn punctuation_and_absurdly_long_terms_are_dropped() {
        assert!(query_terms("... !!! ---").is_empty());
        assert!(query_terms(&"a".repeat(200)).is_empty());
        assert_eq!(query_terms("__init__"), ["init"]);
    }
}
