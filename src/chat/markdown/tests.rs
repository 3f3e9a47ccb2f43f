//! What the renderer promises, entry by entry, and the XSS corpus checked tag by tag.

#![allow(clippy::unwrap_used)]

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
        format!("<p><a href=\"https://example.com/cat.png\" title=\"Cat\" {LINK}>a cat</a></p>")
    );
    assert_eq!(
        render("![](https://example.com/cat.png)"),
        format!(
            "<p><a href=\"https://example.com/cat.png\" {LINK}>https://example.com/cat.png</a></p>"
        )
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
            let (_, attributes) = allowed.unwrap_or_else(|| panic!("<{}> in {context}", tag.name));
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

#[test]
fn plain_text_drops_the_syntax_and_keeps_what_a_reader_sees() {
    use super::plain_text;
    assert_eq!(plain_text("just words"), "just words");
    assert_eq!(
        plain_text("**bold** and _it_ and `code`"),
        "bold and it and code"
    );
    assert_eq!(
        plain_text("# Title\n\n- one\n- two\n\n> quoted"),
        "Title one two quoted"
    );
    assert_eq!(
        plain_text("see [the docs](https://example.org) <b>raw</b>"),
        "see the docs <b>raw</b>"
    );
    assert_eq!(plain_text("```\nfn main() {}\n```"), "fn main() {}");
    assert_eq!(plain_text(""), "");
}
