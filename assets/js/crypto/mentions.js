// Mentions of an encrypted message, found in the browser: the server cannot
// read the text, so the sender's client lists them (`"mentions"` of a send or
// an edit). The rules are the server's (src/chat/mentions.rs), so a mention
// reads the same in every room: an `@` at the start or after a character that
// cannot be in a username (so `ann@example.org` is no mention), then 3 to 32
// username characters, a trailing dot left out; nothing inside backtick code;
// `@room` for everyone; other names only when they are members.

const EVERYONE = 'room';
const MAX_CANDIDATES = 50;
const NAME_CHAR = /[A-Za-z0-9_.-]/;

/** The `@name` tokens of `text`, lowercase, first appearance first. */
export function mentionCandidates(text) {
  const found = [];
  const seen = new Set();
  let inCode = false;
  let previous = null;
  const chars = [...text];
  for (let i = 0; i < chars.length; i += 1) {
    const c = chars[i];
    if (c === '`') inCode = !inCode;
    const starts = c === '@' && !inCode && !(previous !== null && NAME_CHAR.test(previous));
    previous = c;
    if (!starts) continue;
    let name = '';
    for (let j = i + 1; j < chars.length && NAME_CHAR.test(chars[j]); j += 1) name += chars[j];
    name = name.replace(/\.+$/, '').toLowerCase();
    if (name.length >= 3 && name.length <= 32 && !seen.has(name)) {
      seen.add(name);
      found.push(name);
      if (found.length === MAX_CANDIDATES) break;
    }
  }
  return found;
}

/**
 * What a send or an edit lists as `mentions`: `room` for `@room`, and the
 * members of `memberNames` called by name.
 */
export function mentionsIn(text, memberNames) {
  const members = new Set(memberNames.map((name) => name.toLowerCase()));
  return mentionCandidates(text).filter((name) => name === EVERYONE || members.has(name));
}
