//! A message body rendered to HTML (`confab::chat::markdown::render`), which the web UI assigns
//! to `innerHTML`. Whatever the body: no panic, no hang (nesting is bounded, so the sanitizer's
//! cost stays about linear), and the HTML has only the allowlisted tags, no event handler, no
//! `style`, no `src`, and every `href` is http, https or mailto.

#![no_main]

use libfuzzer_sys::fuzz_target;

const TAGS: &[&str] = &[
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

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let html = confab::chat::markdown::render(body);
    // The serializer escapes `<` in text and `"` in attribute values, so every `<` opens or
    // closes a tag and attribute values end at the next `"`.
    let mut rest = html.as_str();
    while let Some(open) = rest.find('<') {
        rest = rest[open + 1..].trim_start_matches('/');
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .expect("every tag is closed");
        let name = &rest[..name_len];
        assert!(TAGS.contains(&name), "tag {name:?} in {html:?}");
        rest = &rest[name_len..];
        loop {
            rest = rest.trim_start_matches(' ');
            if let Some(after) = rest.strip_prefix('>') {
                rest = after;
                break;
            }
            let (attribute, value_and_more) =
                rest.split_once("=\"").expect("attributes are quoted");
            let (value, more) = value_and_more.split_once('"').expect("values are closed");
            check_attribute(name, attribute, value, &html);
            rest = more;
        }
    }
});

fn check_attribute(tag: &str, attribute: &str, value: &str, html: &str) {
    let allowed = matches!(
        (tag, attribute),
        ("a", "href" | "title" | "rel" | "target") | ("ol", "start") | ("code", "class")
    );
    assert!(allowed, "attribute {attribute:?} on {tag:?} in {html:?}");
    if attribute == "href" {
        let lowered = value.to_ascii_lowercase();
        assert!(
            ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| lowered.starts_with(scheme)),
            "href {value:?} in {html:?}"
        );
    }
}
