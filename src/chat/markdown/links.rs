//! URLs in message bodies: which schemes keep their anchor, bare URLs to linkify, and code
//! block language names.

use super::ALLOWED_SCHEMES;

/// Whether a link may keep its URL: only `http://`, `https://` and `mailto:`, compared ASCII
/// case-insensitively and ignoring whitespace and control characters anywhere (a browser drops
/// the tab in `jav&#x09;ascript:`). Ignoring more than a browser does can only admit a URL a
/// browser would read as relative, and ammonia refuses those with a real URL parser.
pub(super) fn is_allowed_url(url: &str) -> bool {
    let head: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    ALLOWED_SCHEMES
        .iter()
        .any(|scheme| head.starts_with(scheme))
}
/// A fenced code block's language, kept as `class="language-…"` for client-side highlighting
/// only when it is a plain name (`rust`, `c++`, `objective-c`, `c#`).
pub(super) fn is_language_name(language: &str) -> bool {
    (1..=32).contains(&language.len())
        && language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '#' | '.'))
}
/// The byte range of the first bare `http(s)://` URL in `text`: it starts at a word boundary,
/// has a host, ends before whitespace, `<`, `>`, `"` or a backtick, and loses trailing
/// punctuation (and a `)` it did not open) as in "see https://example.com/x)."
pub(super) fn find_bare_url(text: &str) -> Option<(usize, usize)> {
    let mut searched = 0;
    while let Some(found) = text[searched..].find("://") {
        let separator = searched + found;
        searched = separator + 3;
        let before = &text[..separator];
        let scheme_len = before.len()
            - before
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let start = separator - scheme_len;
        let scheme = &text[start..separator];
        let at_boundary =
            !matches!(text[..start].chars().next_back(), Some(c) if c.is_alphanumeric());
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
            || !at_boundary
        {
            continue;
        }
        let tail = &text[searched..];
        let length = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
            .unwrap_or(tail.len());
        let mut url = &tail[..length];
        loop {
            let trimmed = url.trim_end_matches(['.', ',', ':', ';', '!', '?', '\'', '*', '_', '~']);
            let unbalanced = trimmed.ends_with(')')
                && trimmed.matches(')').count() > trimmed.matches('(').count();
            let trimmed = if unbalanced {
                &trimmed[..trimmed.len() - 1]
            } else {
                trimmed
            };
            if trimmed.len() == url.len() {
                break;
            }
            url = trimmed;
        }
        if url.starts_with(|c: char| c.is_alphanumeric() || c == '[') {
            return Some((start, searched + url.len()));
        }
    }
    None
}
