//! The rewrite of pulldown-cmark's events into what chat renders (see [`super::render`]).

use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Tag, TagEnd};

use super::links::{find_bare_url, is_allowed_url, is_language_name};
use super::MAX_NESTING;

/// Rewrites pulldown-cmark's events into the subset chat renders (see [`render`]).
#[derive(Default)]
pub(super) struct ChatEvents<'a> {
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
    pub(super) fn rewrite(mut self, events: impl Iterator<Item = Event<'a>>) -> Vec<Event<'a>> {
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
