//! Message bodies as HTML: CommonMark rendered by pulldown-cmark, then sanitized by ammonia.
//!
//! The stored body stays the source text; [`render`] turns it into the `html` field of a message,
//! once per send or edit (and on history reads), never per recipient. The output is meant to be
//! assigned to `innerHTML`, so it is built in two independent steps, either of which alone would
//! keep script out:
//!
//! 1. The Markdown events are rewritten before any HTML exists: raw HTML becomes text, links
//!    other than `http:`, `https:` and `mailto:` lose their anchor (the text stays), images become
//!    links, headings become bold paragraphs, single newlines become line breaks.
//! 2. ammonia then parses the result as a browser would and keeps only an allowlist of tags,
//!    attributes and URL schemes, adding `rel` and `target` to every link.
//!
//! What chat needs and documents do not is left out: no tables, footnotes, task lists, math or
//! heading attributes (pulldown-cmark's options for them stay off).

mod cache;
mod events;
mod links;
mod plain;
#[cfg(test)]
mod tests;
mod xss_corpus;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser};

use events::ChatEvents;
use links::is_language_name;
pub use xss_corpus::XSS_CORPUS;

/// The `rel` every link gets: no `window.opener` for the opened page, no `Referer` leaking the
/// server's URL, and no ranking credit for whatever someone posted.
const LINK_REL: &str = "noopener noreferrer nofollow";

/// The deepest nesting of tags handed to the sanitizer. html5ever, which ammonia parses with,
/// spends time quadratic in the depth of the tree (each new element checks the open-element
/// stack): 4,000 characters of `> - > - …` took 135 ms to clean and 100,000 of `>` four
/// minutes. Markdown nests quotes and lists without limit; chat needs a few levels, so deeper
/// tags are dropped and their content kept, which bounds the cost by the length of the body.
const MAX_NESTING: usize = 16;

/// URL schemes a link may have. Everything else (`javascript:`, `data:`, `vbscript:`, `file:`,
/// relative and protocol-relative URLs) loses its anchor: a relative URL would resolve against
/// confab's own origin, where a click carries the reader's session.
const ALLOWED_SCHEMES: [&str; 3] = ["http://", "https://", "mailto:"];

/// Renders a message body (CommonMark) to sanitized HTML, safe to assign to `innerHTML`.
///
/// Supported: emphasis, strong, strikethrough (`~~x~~`), inline code, fenced and indented code
/// blocks (a safe language name becomes `class="language-…"`), links, autolinks (`<https://…>`,
/// `<a@b.example>` and bare `http(s)://` URLs), lists, block quotes and thematic breaks. The rules:
/// - raw HTML is shown as text, escaped, never rendered nor dropped;
/// - links open in a new tab (`target="_blank"`) with `rel="noopener noreferrer nofollow"`;
///   a link whose URL is not `http`, `https` or `mailto` is dropped and its text kept;
/// - an image is shown as a link to it (its alt text, or the URL when there is none), so
///   nothing is fetched when a message is displayed;
/// - headings are rendered as bold paragraphs: a chat line is not a document title;
/// - a single newline is a line break, as people type multi-line messages;
/// - quotes and lists nest at most 16 tags deep (`MAX_NESTING`; deeper ones are flattened).
///
/// Most chat lines are one line of plain words, which both steps would hand back unchanged in a
/// paragraph: those skip them ([`plain::as_paragraph`]; a property test holds the two paths
/// equal). Cost, release build (`cargo bench --bench markdown`): see docs/performance.md.
pub fn render(body: &str) -> String {
    plain::as_paragraph(body).unwrap_or_else(|| render_in_full(body))
}

/// The `html` field of a message: `None` when the body is plain text, which a client shows as
/// one paragraph of text as it is (most chat lines: sending `<p>…</p>` beside them would add
/// their length again to every frame of the fan-out), or when it renders to nothing.
pub fn render_unless_plain(body: &str) -> Option<String> {
    if plain::is_plain(body) {
        return None;
    }
    cache::rendered(body, |body| {
        Some(render_in_full(body)).filter(|html| !html.is_empty())
    })
}

/// The text a reader sees, without Markdown syntax, on one line: for previews outside the
/// page (push notifications), where no HTML can be shown. Inline code keeps its text, raw HTML
/// shows as written (as in the page), line and block breaks become single spaces.
pub fn plain_text(body: &str) -> String {
    if plain::is_plain(body) {
        return body.to_owned();
    }
    let mut text = String::with_capacity(body.len());
    for event in Parser::new_ext(body, Options::ENABLE_STRIKETHROUGH) {
        match event {
            pulldown_cmark::Event::Text(part)
            | pulldown_cmark::Event::Code(part)
            | pulldown_cmark::Event::Html(part)
            | pulldown_cmark::Event::InlineHtml(part) => text.push_str(&part),
            pulldown_cmark::Event::SoftBreak
            | pulldown_cmark::Event::HardBreak
            | pulldown_cmark::Event::End(_) => text.push(' '),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Both steps, for any body.
fn render_in_full(body: &str) -> String {
    let parser = Parser::new_ext(body, Options::ENABLE_STRIKETHROUGH);
    let events = ChatEvents::default().rewrite(pulldown_cmark::utils::TextMergeStream::new(parser));
    let mut html = String::with_capacity(body.len() + body.len() / 2 + 16);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    let mut clean = SANITIZER.clean(&html).to_string();
    clean.truncate(clean.trim_end().len());
    clean
}

/// The sanitizer, configured once. A static rather than a field of the app state because it is
/// immutable configuration, the same for every message: building it costs a dozen hash-set
/// inserts that would otherwise be paid on every render.
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let tags = [
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "strong",
        "ul",
    ];
    let attributes = HashMap::from([
        ("a", HashSet::from(["href", "title"])),
        ("ol", HashSet::from(["start"])),
        ("code", HashSet::from(["class"])),
    ]);
    let schemes = ALLOWED_SCHEMES.map(|prefix| prefix.trim_end_matches("//").trim_end_matches(':'));
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(HashSet::from(tags))
        .tag_attributes(attributes)
        .url_schemes(HashSet::from(schemes))
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .set_tag_attribute_value("a", "target", "_blank")
        .strip_comments(true)
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("code", "class") => value
                .strip_prefix("language-")
                .filter(|language| is_language_name(language))
                .map(|_| Cow::Borrowed(value)),
            _ => Some(Cow::Borrowed(value)),
        });
    builder
});
