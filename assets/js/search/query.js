// The search query as typed, split into its terms, so the filter terms in it
// (`from:ann`, `in:design`, `before:2026-11-30`, `after:2026-11-01`) can be
// shown as chips and taken out again. The server parses the query itself
// (words, "exact phrases", -excluded, filters); this only has to find where a
// term starts and ends: whitespace separates terms except inside quotes, and
// an unclosed quote runs to the end (the server says what is wrong with it).
//
// Pure functions, no DOM: they can be tested under Node.

/** The filter keys shown as chips, in the order the server documents them. */
export const FILTER_KEYS = ['from', 'in', 'before', 'after'];

const FILTER = /^(from|in|before|after):(.+)$/i;

/**
 * The terms of a query with where each one is: `[{ text, start, end }]`.
 * `"two words"` and `in:"team room"` are one term each.
 */
export function terms(query) {
  const found = [];
  let i = 0;
  while (i < query.length) {
    if (/\s/.test(query[i])) {
      i += 1;
      continue;
    }
    const start = i;
    let quoted = false;
    while (i < query.length && (quoted || !/\s/.test(query[i]))) {
      if (query[i] === '"') quoted = !quoted;
      i += 1;
    }
    found.push({ text: query.slice(start, i), start, end: i });
  }
  return found;
}

/**
 * The filter terms of a query, in the order typed:
 * `[{ key, value, text, start, end }]`, `key` lower case, `value` unquoted.
 */
export function filterTerms(query) {
  return terms(query).flatMap((term) => {
    const match = FILTER.exec(term.text);
    if (!match) return [];
    const value = unquote(match[2]);
    return value ? [{ ...term, key: match[1].toLowerCase(), value }] : [];
  });
}

/** The query without the term that starts at `start`; the other terms keep their text, one space apart. */
export function removeTerm(query, start) {
  return terms(query)
    .filter((term) => term.start !== start)
    .map((term) => term.text)
    .join(' ');
}

function unquote(value) {
  return value.replace(/^"(.*?)"?$/, '$1');
}
