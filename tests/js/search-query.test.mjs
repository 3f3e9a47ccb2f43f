// The web UI's reading of the search syntax (assets/js/search/query.js): where each term
// starts and ends, which are filters, and removing one (a chip's close button).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filterTerms, removeTerm, terms } from '../../assets/js/search/query.js';

test('terms', () => {
  assert.deepEqual(terms('  deploy "release notes"  -draft from:ann').map((t) => t.text), ['deploy', '"release notes"', '-draft', 'from:ann']);
  assert.deepEqual(terms('in:"team room" x').map((t) => t.text), ['in:"team room"', 'x']);
  assert.deepEqual(terms('"abc def').map((t) => t.text), ['"abc def']);
  assert.deepEqual(terms(''), []);
});
test('filters', () => {
  const f = filterTerms('deploy FROM:Ann in:"team room" before:2026-11-30 after: from:"bob');
  assert.deepEqual(f.map(({ key, value }) => [key, value]), [['from', 'Ann'], ['in', 'team room'], ['before', '2026-11-30'], ['from', 'bob']]);
  assert.deepEqual(filterTerms('"from:ann"'), []);
});
test('remove', () => {
  const q = 'deploy  from:ann "a  b"';
  const [from] = filterTerms(q);
  assert.equal(removeTerm(q, from.start), 'deploy "a  b"');
  assert.equal(removeTerm('from:ann', 0), '');
});
