//! The search syntax people type: words (all must match), `"exact phrases"`, `-excluded`,
//! `from:username`, `in:room-name`, `before:2026-11-30`, `after:2026-11-01`. Parsing never
//! fails silently: a problem is answered with where it is.

use time::macros::format_description;
use time::Date;

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 512;
/// The most words, phrases and filters one query may have.
pub const MAX_TERMS: usize = 32;

/// A parsed query, before its words are analysed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    /// Words and phrases that must all match (a phrase is matched as written, in order).
    pub required: Vec<String>,
    /// Words and phrases that must not.
    pub excluded: Vec<String>,
    pub from: Option<String>,
    pub room_name: Option<String>,
    /// Sent before this day began (UTC), in ms since the epoch.
    pub before_ms: Option<u64>,
    /// Sent after this day ended (UTC), in ms since the epoch.
    pub after_ms: Option<u64>,
}

impl ParsedQuery {
    pub fn has_filters(&self) -> bool {
        self.from.is_some()
            || self.room_name.is_some()
            || self.before_ms.is_some()
            || self.after_ms.is_some()
    }
}

/// Why a query was refused: shown to the user as is.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn refuse(message: impl Into<String>) -> QueryError {
    QueryError(message.into())
}

pub fn parse(query: &str) -> Result<ParsedQuery, QueryError> {
    if query.trim().is_empty() {
        return Err(refuse("the query is empty: type what to search for"));
    }
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(refuse(format!(
            "the query is {chars} characters long; at most {MAX_QUERY_CHARS} are allowed"
        )));
    }
    if query.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(refuse("the query contains control characters"));
    }
    let pieces = split(query)?;
    if pieces.len() > MAX_TERMS {
        return Err(refuse(format!(
            "the query has {} terms; at most {MAX_TERMS} are allowed",
            pieces.len()
        )));
    }
    let mut parsed = ParsedQuery::default();
    for piece in pieces {
        apply(&mut parsed, piece)?;
    }
    Ok(parsed)
}

/// One whitespace-separated piece of the query, or a quoted phrase.
#[derive(Debug)]
struct Piece<'q> {
    text: &'q str,
    /// Where it starts in the query (characters, from 1), for error messages.
    column: usize,
    excluded: bool,
    quoted: bool,
}

fn split(query: &str) -> Result<Vec<Piece<'_>>, QueryError> {
    let mut pieces = Vec::new();
    let mut chars = query.char_indices().enumerate().peekable();
    while let Some((column, (at, c))) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let excluded = c == '-' && chars.peek().is_some_and(|(_, (_, n))| !n.is_whitespace());
        let (start_column, start, opening) = if excluded {
            let (column, (at, c)) = chars.next().expect("peeked");
            (column, at, c)
        } else {
            (column, at, c)
        };
        if opening == '"' {
            let body_start = start + 1;
            let mut end = None;
            for (_, (at, c)) in chars.by_ref() {
                if c == '"' {
                    end = Some(at);
                    break;
                }
            }
            let Some(end) = end else {
                return Err(refuse(format!(
                    "the quote at character {} is never closed: add a closing \"",
                    start_column + 1
                )));
            };
            pieces.push(Piece {
                text: &query[body_start..end],
                column: start_column + 1,
                excluded,
                quoted: true,
            });
            continue;
        }
        // A filter's value may be quoted (`in:"team room"`).
        let mut end = query.len();
        let mut open_quote: Option<usize> = None;
        while let Some(&(column, (at, c))) = chars.peek() {
            if open_quote.is_some() {
                if c == '"' {
                    open_quote = None;
                }
            } else if c.is_whitespace() {
                end = at;
                break;
            } else if c == '"' && query[start..at].ends_with(':') {
                open_quote = Some(column);
            }
            chars.next();
        }
        if let Some(column) = open_quote {
            return Err(refuse(format!(
                "the quote at character {} is never closed: add a closing \"",
                column + 1
            )));
        }
        pieces.push(Piece {
            text: &query[start..end],
            column: start_column + 1,
            excluded,
            quoted: false,
        });
    }
    Ok(pieces)
}

fn apply(parsed: &mut ParsedQuery, piece: Piece<'_>) -> Result<(), QueryError> {
    if !piece.quoted {
        if let Some((name, value)) = piece.text.split_once(':') {
            let filter = match name.to_ascii_lowercase().as_str() {
                "from" => Some(Filter::From),
                "in" => Some(Filter::In),
                "before" => Some(Filter::Before),
                "after" => Some(Filter::After),
                _ => None,
            };
            if let Some(filter) = filter {
                return apply_filter(parsed, filter, name, value, &piece);
            }
        }
    }
    if piece.quoted && piece.text.trim().is_empty() {
        return Err(refuse(format!(
            "the phrase at character {} is empty",
            piece.column
        )));
    }
    let text = piece.text.to_string();
    if piece.excluded {
        parsed.excluded.push(text);
    } else {
        parsed.required.push(text);
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Filter {
    From,
    In,
    Before,
    After,
}

fn apply_filter(
    parsed: &mut ParsedQuery,
    filter: Filter,
    name: &str,
    value: &str,
    piece: &Piece<'_>,
) -> Result<(), QueryError> {
    let at = piece.column;
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
        .trim();
    if piece.excluded {
        return Err(refuse(format!(
            "-{name}: at character {at} cannot be excluded; leave out the -"
        )));
    }
    if value.is_empty() {
        return Err(refuse(format!(
            "{name}: at character {at} needs a value, e.g. {name}:{}",
            example(filter)
        )));
    }
    let twice = |what: &str| {
        refuse(format!(
            "{what} at character {at} is the second one; use one per query"
        ))
    };
    match filter {
        Filter::From => {
            if parsed.from.is_some() {
                return Err(twice("from:"));
            }
            parsed.from = Some(value.trim_start_matches('@').to_lowercase());
        }
        Filter::In => {
            if parsed.room_name.is_some() {
                return Err(twice("in:"));
            }
            parsed.room_name = Some(value.trim_start_matches('#').to_string());
        }
        Filter::Before => {
            if parsed.before_ms.is_some() {
                return Err(twice("before:"));
            }
            parsed.before_ms = Some(day_start_ms(value, name, at)?);
        }
        Filter::After => {
            if parsed.after_ms.is_some() {
                return Err(twice("after:"));
            }
            parsed.after_ms = Some(day_start_ms(value, name, at)?.saturating_add(DAY_MS));
        }
    }
    Ok(())
}

const DAY_MS: u64 = 86_400_000;

fn example(filter: Filter) -> &'static str {
    match filter {
        Filter::From => "alice",
        Filter::In => "general",
        Filter::Before | Filter::After => "2026-11-30",
    }
}

/// The first millisecond of a `YYYY-MM-DD` day (UTC).
pub fn day_start_ms(value: &str, name: &str, at: usize) -> Result<u64, QueryError> {
    let format = format_description!("[year]-[month]-[day]");
    let date = Date::parse(value, &format).map_err(|_| {
        refuse(format!(
            "{name}:{value} at character {at} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-30"
        ))
    })?;
    let seconds = date.midnight().assume_utc().unix_timestamp();
    u64::try_from(seconds)
        .map(|s| s * 1000)
        .map_err(|_| refuse(format!("{name}:{value} at character {at} is before 1970")))
}

/// A date filter given as its own parameter (`before=`, `after=`), in the same form.
pub fn date_param(value: &str, name: &str, after: bool) -> Result<u64, QueryError> {
    let start = day_start_ms(value, name, 1).map_err(|_| {
        refuse(format!(
            "{name}={value} is not a date; write it as YYYY-MM-DD"
        ))
    })?;
    Ok(if after {
        start.saturating_add(DAY_MS)
    } else {
        start
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_exclusions_and_filters() {
        let parsed = parse(r#"deploy "release notes" -staging from:@Alice in:#ops before:2026-11-30 after:2026-11-01"#)
            .expect("valid");
        assert_eq!(parsed.required, ["deploy", "release notes"]);
        assert_eq!(parsed.excluded, ["staging"]);
        assert_eq!(parsed.from.as_deref(), Some("alice"));
        assert_eq!(parsed.room_name.as_deref(), Some("ops"));
        assert_eq!(parsed.before_ms, Some(1_795_996_800_000));
        assert_eq!(parsed.after_ms, Some(1_793_491_200_000 + DAY_MS));
        let excluded_phrase = parse(r#"-"old plan" x"#).expect("valid");
        assert_eq!(excluded_phrase.excluded, ["old plan"]);
        let quoted = parse(r#"in:"team room" from:"bob" x"#).expect("valid");
        assert_eq!(quoted.room_name.as_deref(), Some("team room"));
        assert_eq!(quoted.from.as_deref(), Some("bob"));
        assert_eq!(quoted.required, ["x"]);
    }

    #[test]
    fn other_colons_are_plain_words() {
        let parsed = parse("https://example.com/a re:topic").expect("valid");
        assert_eq!(parsed.required, ["https://example.com/a", "re:topic"]);
        // A lone dash is a word (the analyzer drops it), not an exclusion of nothing.
        assert_eq!(parse("a - b").expect("valid").required, ["a", "-", "b"]);
    }

    #[test]
    fn problems_are_named_with_their_place() {
        let cases = [
            ("", "empty"),
            ("   \t ", "empty"),
            (r#"abc "def"#, "character 5 is never closed"),
            ("x from:", "from: at character 3 needs a value"),
            ("before:2026-13-01", "is not a date"),
            ("after:yesterday", "is not a date"),
            ("from:a from:b", "second one"),
            ("-from:bob", "cannot be excluded"),
            (r#"a """#, "phrase at character 3 is empty"),
            ("a\u{0}b", "control characters"),
            (r#"in:"team room"#, "character 4 is never closed"),
            (r#"in:"" x"#, "needs a value"),
        ];
        for (query, expected) in cases {
            let err = parse(query).expect_err(query);
            assert!(err.0.contains(expected), "{query:?}: {err}");
        }
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert!(parse(&long).expect_err("long").0.contains("at most 512"));
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert!(parse(&many).expect_err("many").0.contains("at most 32"));
        assert!(parse(&vec!["w"; MAX_TERMS].join(" ")).is_ok());
    }
}
