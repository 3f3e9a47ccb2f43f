//! Mentions in a message body: `@username` of a member of the room, and `@room` for everyone.

use std::collections::HashSet;

use super::Chat;
use crate::error::Result;
use crate::ids::RoomId;

/// The name `@room` stands for in `mentions`.
pub const EVERYONE: &str = "room";
/// Distinct names looked up per message: a body of a thousand `@x` costs at most this many reads.
const MAX_CANDIDATES: usize = 50;

/// The `@name` tokens of `body`, lowercase, first appearance first: an `@` at the start or after
/// a character that cannot be in a username (so `ann@example.org` is no mention), then 3 to 32
/// username characters. Inside backtick code spans nothing counts.
pub fn candidates(body: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut in_code = false;
    let mut previous: Option<char> = None;
    for (at, c) in body.char_indices() {
        if c == '`' {
            in_code = !in_code;
        }
        let starts = c == '@' && !in_code && !previous.is_some_and(is_name_char);
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &body[at + 1..];
        let name: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
        // A trailing dot ends a sentence, not the name.
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if (3..=32).contains(&name.len()) && seen.insert(name.clone()) {
            found.push(name);
            if found.len() == MAX_CANDIDATES {
                break;
            }
        }
    }
    found
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

impl Chat {
    /// The mentions of `body` in `room`: `room` for `@room`, and members named by `@name`.
    pub(super) fn mentions_in(&self, room: RoomId, body: &str) -> Result<Vec<String>> {
        if !body.contains('@') {
            return Ok(Vec::new());
        }
        let mut mentions = Vec::new();
        for name in candidates(body) {
            if name == EVERYONE || self.store.member(room, &name)?.is_some() {
                mentions.push(name);
            }
        }
        Ok(mentions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_where_they_are_meant() {
        assert_eq!(candidates("hi @Ann and @bob.smith."), ["ann", "bob.smith"]);
        assert_eq!(candidates("@room deploy now, @ann @ANN"), ["room", "ann"]);
        assert!(candidates("mail ann@example.org").is_empty());
        assert!(candidates("`@ann` in code").is_empty());
        assert!(candidates("@ab too short, @ alone").is_empty());
        assert_eq!(candidates("(@carol_1)"), ["carol_1"]);
        let flood = (0..200)
            .map(|n| format!("@user{n:03} "))
            .collect::<String>();
        assert_eq!(candidates(&flood).len(), MAX_CANDIDATES);
    }
}
