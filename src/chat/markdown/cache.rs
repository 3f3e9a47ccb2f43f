//! The bodies rendered lately, so that reading the same messages again (a room list showing
//! every room's newest message, history pages, reconnects) does not parse and sanitize them
//! again: rendering costs tens of microseconds, a lookup well under one.
//!
//! Bounded by bytes, not entries; when full it starts over (the next reads refill it), which
//! keeps it simple and its worst case a few megabytes.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Bodies and their HTML held at most, in bytes.
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// What each entry costs besides its text: the map's slot, the allocations' headers.
const ENTRY_OVERHEAD: usize = 96;

#[derive(Default)]
struct Cache {
    rendered: HashMap<Box<str>, Option<Arc<str>>>,
    bytes: usize,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `render(body)`, from the cache when `body` was rendered lately.
pub(super) fn rendered(body: &str, render: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    if let Some(hit) = cache().rendered.get(body) {
        return hit.as_deref().map(str::to_owned);
    }
    // Outside the lock: other bodies are looked up while this one renders.
    let html = render(body);
    let cost = body.len() + html.as_ref().map_or(0, String::len) + ENTRY_OVERHEAD;
    if cost <= MAX_BYTES / 64 {
        let mut cache = cache();
        if cache.bytes + cost > MAX_BYTES {
            cache.rendered.clear();
            cache.bytes = 0;
        }
        cache
            .rendered
            .insert(body.into(), html.as_deref().map(Arc::from));
        cache.bytes += cost;
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_rendered_once_and_then_served_from_the_cache() {
        let body = "cache test *body* 8f3e";
        let mut renders = 0;
        for _ in 0..3 {
            let html = rendered(body, |b| {
                renders += 1;
                Some(format!("<p>{b}</p>"))
            });
            assert_eq!(html.as_deref(), Some("<p>cache test *body* 8f3e</p>"));
        }
        assert_eq!(renders, 1);
        let nothing = rendered("cache test renders to nothing 8f3e", |_| None);
        assert_eq!(nothing, None);
    }
}
