// The search results panel under the field: the query's error (next to the
// field), its filter chips, notes (encrypted rooms are not searched; the
// server stopped early), and the hits newest first with "Load more", or an
// empty state, a loading line, or a problem with a way to try again.
//
// It only shows what the search controller (search.js) tells it.

import { encryptedBadge, h, icon } from '../dom.js';
import { hitItem } from './hit.js';

export class ResultsPanel {
  #me;
  #onOpen;
  #status = h('p', { class: 'search-status', role: 'status' });
  #notes = h('div', { class: 'search-notes' });
  #body = h('div', { class: 'search-body' });
  #list = h('ol', { class: 'search-hits', 'aria-label': 'Search results' });
  #more = h(
    'button',
    { class: 'btn btn-ghost btn-small search-more', type: 'button', hidden: true },
    'Load more results',
  );

  /**
   * @param opts.id     the panel's element id (the field's `aria-controls`)
   * @param opts.me     the signed-in username
   * @param opts.onOpen (hit, event) => void: a hit was clicked or followed with Enter
   * @param opts.onMore () => void: "Load more" was pressed
   */
  constructor({ id, me, onOpen, onMore }) {
    this.#me = me;
    this.#onOpen = onOpen;
    this.#more.addEventListener('click', onMore);
    /** The query's error, shown right under the field (its `aria-describedby`). */
    this.error = h('p', { id: `${id}-error`, class: 'search-error', role: 'alert', hidden: true });
    this.chips = h('ul', { class: 'chips search-chips', 'aria-label': 'Search filters' });
    // `aria-busy` is true while a search is under way.
    this.el = h(
      'div',
      { id, class: 'search-panel', hidden: true, 'aria-busy': 'false' },
      this.error,
      this.chips,
      this.#notes,
      this.#status,
      this.#body,
    );
  }

  /** The hit links and "Load more", in order: where the arrow keys move. */
  get focusables() {
    const links = [...this.#list.querySelectorAll('a.search-hit')];
    return this.#more.isConnected && !this.#more.hidden ? [...links, this.#more] : links;
  }

  /** @param text the server's message about the query (400), or null to clear it */
  setError(text) {
    this.error.textContent = text ?? '';
    this.error.hidden = !text;
    if (text) this.el.setAttribute('aria-busy', 'false');
  }

  /** @param chips `<li>` elements from filterChips() */
  setChips(chips) {
    this.chips.replaceChildren(...chips);
    this.chips.hidden = chips.length === 0;
  }

  /** @param labels rooms named in the search that the server cannot search (end-to-end encrypted) */
  setEncrypted(labels) {
    this.#notes.querySelector('.search-note-e2e')?.remove();
    if (labels.length === 0) return;
    this.#notes.prepend(
      h(
        'p',
        { class: 'search-note search-note-e2e' },
        encryptedBadge('e2e-badge'),
        h(
          'span',
          {},
          `Server search does not cover end-to-end encrypted rooms: messages in ${labels.join(', ')} are not searched.`,
        ),
      ),
    );
  }

  /** A new search is under way (`more`: the next page of the shown one). */
  showLoading(more = false) {
    this.el.setAttribute('aria-busy', 'true');
    if (more) {
      this.#more.disabled = true;
      this.#more.textContent = 'Loading…';
      return;
    }
    this.#setTruncated(false);
    this.#status.replaceChildren(h('span', { class: 'spinner' }), 'Searching…');
    this.#body.replaceChildren();
  }

  /**
   * Shows the hits found so far.
   * @param opts.hits      every hit of the search, newest first
   * @param opts.added     how many of them the last page added (the rest are shown already)
   * @param opts.more      whether the server has more (a `next_cursor`)
   * @param opts.truncated the server's time budget cut the search short
   * @param opts.query     what was searched, for the empty state
   * @returns the first new hit's link, or null
   */
  showHits({ hits, added, more, truncated, query }) {
    this.el.setAttribute('aria-busy', 'false');
    this.#more.disabled = false;
    this.#more.textContent = 'Load more results';
    this.#more.hidden = !more;
    this.#setTruncated(truncated);
    if (hits.length === 0) {
      this.#status.textContent = 'No results';
      this.#body.replaceChildren(
        h(
          'div',
          { class: 'search-empty' },
          h('p', { class: 'search-empty-title' }, query ? `No messages match “${query}”.` : 'No messages match.'),
          h('p', {}, 'Check the spelling, use fewer words, or remove a filter.'),
        ),
      );
      return null;
    }
    const fresh = hits.slice(hits.length - added).map((hit) => hitItem(hit, this.#me, this.#onOpen));
    if (added === hits.length) this.#list.replaceChildren(...fresh);
    else this.#list.append(...fresh);
    const count = hits.length === 1 ? '1 result' : `${hits.length} results`;
    this.#status.textContent = more ? `${count} so far` : count;
    if (!this.#list.isConnected) this.#body.replaceChildren(this.#list, this.#more);
    return fresh[0]?.querySelector('a') ?? null;
  }

  /** Something kept the search from running; `retry` (optional) runs it again. */
  showProblem(text, retry = null) {
    this.el.setAttribute('aria-busy', 'false');
    this.#setTruncated(false);
    this.#status.textContent = '';
    const again = retry && h('button', { class: 'btn btn-ghost btn-small', type: 'button' }, 'Try again');
    again?.addEventListener('click', retry);
    this.#body.replaceChildren(
      h('div', { class: 'search-problem', role: 'alert' }, icon('alert'), h('p', {}, text), again),
    );
  }

  /** Empties the results (a cleared field). */
  clear() {
    this.el.setAttribute('aria-busy', 'false');
    this.#setTruncated(false);
    this.#status.textContent = '';
    this.#body.replaceChildren();
    this.#list.replaceChildren();
  }

  #setTruncated(truncated) {
    this.#notes.querySelector('.search-note-truncated')?.remove();
    if (!truncated) return;
    this.#notes.append(
      h(
        'p',
        { class: 'search-note search-note-truncated' },
        icon('clock'),
        h(
          'span',
          {},
          'The search stopped early to answer quickly, so older matches may be missing. ' +
            'Add a room, a person or dates to narrow it.',
        ),
      ),
    );
  }
}
