//! What rendering one message body costs (`confab::chat::markdown::render`), run once per send or
//! edit on the delivery path and once per message on history reads:
//!
//! - `plain`: one line of words, the common chat message, which takes the fast path;
//! - `plain_with_ampersand`: the same line with a `&`, which is enough to take the full path
//!   (pulldown-cmark, then ammonia), so the two together show what the fast path saves;
//! - `rich`: bold, a bare URL, inline code and a quote over four lines;
//! - `long`: 4,000 characters (the default `limits.max_message_chars`) of mixed Markdown.
//!
//! `cargo bench --bench markdown`.

use std::hint::black_box;

use confab::chat::markdown::render;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PLAIN: &str =
    "ok, I'll look at it after lunch. The migration touched three tables and I want \
                     to be sure the rollback script works before we run it on production tomorrow";
const RICH: &str =
    "Deploy of **v2.3** is done :tada:\nLogs: https://ci.example.com/builds/1234 and \
                    `cargo test` passes locally.\n> can you check the *staging* db before 5pm?\n\
                    thanks!";

fn bodies() -> Vec<(&'static str, String)> {
    let long_unit = "- item with *emphasis*, `code` and <https://example.com/a>\n";
    let long = long_unit.repeat(4_000 / long_unit.len());
    vec![
        ("plain", PLAIN.to_owned()),
        ("plain_with_ampersand", PLAIN.replace(". The", " & the")),
        ("rich", RICH.to_owned()),
        ("long", long),
    ]
}

fn render_bodies(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    for (name, body) in bodies() {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| render(black_box(&body))));
    }
    group.finish();
}

criterion_group!(benches, render_bodies);
criterion_main!(benches);
