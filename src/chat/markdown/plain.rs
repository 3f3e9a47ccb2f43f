//! The fast path for message bodies with no Markdown in them.
//!
//! A body qualifies when pulldown-cmark would read it as one paragraph of literal text and the
//! sanitizer would serialize that text as it came: one line, no character that starts Markdown
//! syntax, an entity or a tag, no `://` (bare URLs become links), nothing the HTML serializer
//! escapes, and no leading or trailing space (a paragraph drops them). Anything else, however
//! harmless, takes the full path: a wrong "no" costs microseconds, a wrong "yes" would be a bug.

/// `<p>body</p>` when the full renderer would produce exactly that, else `None`.
pub(super) fn as_paragraph(body: &str) -> Option<String> {
    is_plain(body).then(|| format!("<p>{body}</p>"))
}

/// Whether the full renderer would make `body` one paragraph of it, exactly as it is.
pub(super) fn is_plain(body: &str) -> bool {
    all_literal(body)
        && body.starts_with(starts_a_paragraph)
        && !body.ends_with(' ')
        && !starts_an_ordered_list(body)
        && !body.contains("://")
}

/// Every character is text where it stands: those of `is_literal`, and `_` inside a word
/// (`snake_case`, `john_doe`), which CommonMark never reads as emphasis: a `_` run with a letter
/// or digit on both sides can neither open nor close it.
fn all_literal(body: &str) -> bool {
    let mut previous = None;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let literal = if c == '_' {
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
            word(previous) && word(chars.peek().copied())
        } else {
            is_literal(c)
        };
        if !literal {
            return false;
        }
        previous = Some(c);
    }
    true
}

/// ASCII punctuation that is text wherever it stands after the first character (`#`, `-`, `+`,
/// `=` and digits followed by `.` or `)` matter only at the start of a line).
const LITERAL_PUNCTUATION: &str = " .,;:?!'\"()/@#%$^{}=+-|";

fn is_literal(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || LITERAL_PUNCTUATION.contains(c)
    } else {
        // Controls, and Unicode spaces (the serializer writes U+00A0 as `&nbsp;`).
        !c.is_control() && !c.is_whitespace() && c != '\u{feff}'
    }
}

/// Block syntax begins with `#`, `>`, `-`, `+`, `*`, `=`, `_`, a space, or a digit run: a body
/// that starts with a letter, a non-ASCII character or other punctuation is a paragraph.
fn starts_a_paragraph(c: char) -> bool {
    !matches!(c, ' ' | '#' | '>' | '-' | '+' | '=')
}

/// `1. x` and `1) x` (up to nine digits) open an ordered list.
fn starts_an_ordered_list(body: &str) -> bool {
    let after_digits = body.trim_start_matches(|c: char| c.is_ascii_digit());
    after_digits.len() != body.len() && after_digits.starts_with(['.', ')'])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::as_paragraph;

    /// Characters that are text wherever they stand, and (rarer, so that a good share of the
    /// bodies still qualify) ones that start syntax somewhere or that the serializer escapes.
    const TEXT: &[char] = &[
        'a', 'Z', 'é', 'ß', '中', '👍', '7', '0', ' ', ' ', '.', ',', ':', ';', '?', '!', '\'',
        '"', '(', ')', '/', '@', '%', '$', '^', '{', '}', '|', '_', 'b',
    ];
    const SYNTAX: &[char] = &[
        '#', '=', '+', '-', '&', '<', '>', '*', '_', '~', '[', ']', '\\', '`', '\n', '\t', '\r',
        '\u{0}', '\u{a0}', '\u{feff}', '\u{2003}', '\u{85}', '1', '.', ')', ':', '/',
    ];

    fn bodies() -> impl Strategy<Value = String> {
        let char = prop_oneof![
            9 => prop::sample::select(TEXT),
            1 => prop::sample::select(SYNTAX),
        ];
        prop::collection::vec(char, 1..24).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// Whenever the fast path answers, the full renderer agrees byte for byte.
        #[test]
        fn fast_path_equals_the_full_renderer(body in bodies()) {
            if let Some(fast) = as_paragraph(&body) {
                prop_assert_eq!(fast, super::super::render_in_full(&body));
            }
        }
    }

    #[test]
    fn typical_chat_lines_take_the_fast_path() {
        for line in [
            "ok, I'll look at it after lunch (3pm?)",
            "thanks! 👍",
            "deploy 42 is done: see ci.example.com/builds/1234",
            "2 people said yes",
            "Grüße aus Köln, 你好",
            "@john_doe can you look at parse_room_id?",
        ] {
            assert_eq!(as_paragraph(line), Some(format!("<p>{line}</p>")), "{line}");
        }
    }

    #[test]
    fn markdown_and_html_take_the_full_path() {
        for body in [
            "**bold**",
            "1. first",
            "3) third",
            "- item",
            "# title",
            "> quote",
            "see https://example.com",
            "a & b",
            "a < b",
            "two\nlines",
            " leading",
            "trailing ",
            "_emphasis_",
            "a _b",
            "a_ b",
            "a__",
            "non\u{a0}breaking",
            "",
        ] {
            assert_eq!(as_paragraph(body), None, "{body:?}");
        }
    }
}
