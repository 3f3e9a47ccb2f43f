// Full-text search in the top bar: the field, the results panel under it, and
// the searches themselves (GET /api/search).
//
// Enter runs the query typed; the filter terms in it show as chips, and
// removing one runs the query again without it. A room open in the chat is
// offered as a filter (the `room` parameter). Results come newest first, a
// page at a time ("Load more" follows the server's `next_cursor`); a newer
// search always wins over the answer of an older one. A hit is a link to the
// message in its room (#/room/<room>/message/<message>), which the chat opens
// scrolled to the message and flashes. Escape closes the panel; `/` and
// Ctrl/Cmd+K come back to the field from anywhere.
//
// The server never indexes end-to-end encrypted rooms (it cannot read them),
// so when one is open or named in the search, the panel says so.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { roomLabel } from '../views/chat-text.js';
import { filterChips } from './filters.js';
import { hitHash } from './hit.js';
import { arrowTarget, listenForShortcut, SHORTCUT_TEXT } from './keys.js';
import { ResultsPanel } from './panel.js';
import { filterTerms, removeTerm } from './query.js';

const PAGE = 20;
const FIELD_ID = 'search-input';
const PANEL_ID = 'search-panel';

/**
 * @param ctx { user, rooms, navigate }
 * @returns { el, setOpenRoom(roomId | null), focus(), destroy() }
 */
export function createSearch(ctx) {
  const me = ctx.user.username;
  const hint = h('span', { id: `${FIELD_ID}-hint`, class: 'sr-only' }, `Shortcut: ${SHORTCUT_TEXT}`);
  const input = h('input', {
    id: FIELD_ID,
    class: 'search-input',
    type: 'search',
    placeholder: 'Search messages',
    autocomplete: 'off',
    spellcheck: 'false',
    enterkeyhint: 'search',
    maxlength: 512,
    'aria-controls': PANEL_ID,
    'aria-expanded': 'false',
    'aria-describedby': `${PANEL_ID}-error ${FIELD_ID}-hint`,
  });
  const panel = new ResultsPanel({ id: PANEL_ID, me, onOpen: openHit, onMore: () => run({ more: true }) });
  const el = h(
    'div',
    { class: 'search', role: 'search', 'aria-label': 'Search messages' },
    h('label', { class: 'sr-only', for: FIELD_ID }, 'Search messages'),
    h(
      'div',
      { class: 'search-field' },
      icon('search', 'search-icon'),
      input,
      h('kbd', { class: 'search-kbd', 'aria-hidden': 'true', title: `Search: ${SHORTCUT_TEXT}` }, '/'),
    ),
    hint,
    panel.el,
  );

  /** The room open in the chat, or null. */
  let openRoomId = null;
  /** The room picked as a filter ("In #room"), or null. */
  let pickedRoom = null;
  /** The search shown: what was asked, the hits so far and where the next page starts. */
  let shown = null;
  /** Bumped by every search and page request: only the newest one's answer is shown. */
  let seq = 0;

  const openRoom = () => (openRoomId ? ctx.rooms.get(openRoomId) ?? null : null);

  function open() {
    panel.el.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }

  function close() {
    panel.el.hidden = true;
    input.setAttribute('aria-expanded', 'false');
  }

  /** Chips and the encrypted-rooms note for what the field says now. */
  function renderFilters() {
    panel.setChips(
      filterChips({
        query: input.value,
        pickedRoom,
        openRoom: openRoom(),
        me,
        // The chip pressed goes away: the field keeps the keyboard.
        onRemoveTerm: (start) => {
          input.value = removeTerm(input.value, start);
          input.focus();
          run();
        },
        onRemoveRoom: () => {
          pickedRoom = null;
          input.focus();
          run();
        },
        onPickRoom: () => {
          pickedRoom = openRoom();
          input.focus();
          run();
        },
      }),
    );
    panel.setEncrypted(unsearchedRooms().map((room) => roomLabel(room, me)));
  }

  /** The end-to-end encrypted rooms the search is about: the open one, the picked one, those named with `in:`. */
  function unsearchedRooms() {
    const named = filterTerms(input.value)
      .filter((term) => term.key === 'in')
      .map((term) => ctx.rooms.findByName(term.value));
    const rooms = [openRoom(), pickedRoom, ...named].filter((room) => room?.encrypted);
    return [...new Map(rooms.map((room) => [room.id, room])).values()];
  }

  /** Runs the query in the field, or (`more`) fetches the next page of the one shown. */
  async function run({ more = false } = {}) {
    const mine = ++seq;
    if (!more) {
      const q = input.value.trim();
      renderFilters();
      panel.setError(null);
      input.removeAttribute('aria-invalid');
      // The server needs words to look for; a picked room alone keeps its chip on show.
      if (!q) {
        shown = null;
        panel.clear();
        if (!pickedRoom) close();
        return;
      }
      shown = { q, room: pickedRoom?.id ?? null, hits: [], cursor: null };
    }
    if (!shown) return;
    const asked = shown;
    open();
    panel.showLoading(more);
    let page;
    try {
      page = await api.search({ q: asked.q, room: asked.room, limit: PAGE, cursor: more ? asked.cursor : null });
    } catch (error) {
      if (mine === seq) showFailure(error, more);
      return;
    }
    if (mine !== seq || asked !== shown) return;
    const hits = page.hits ?? [];
    asked.hits.push(...hits);
    asked.cursor = page.next_cursor ?? null;
    const first = panel.showHits({
      hits: asked.hits,
      added: hits.length,
      more: Boolean(asked.cursor),
      truncated: page.truncated === true,
      query: asked.q,
    });
    // "Load more" from the keyboard: carry on at the first new hit.
    if (more && first && el.contains(document.activeElement)) first.focus();
  }

  function showFailure(error, more) {
    if (error.status === 400) {
      // The query itself: the server's words, next to the field.
      panel.setError(error.message);
      input.setAttribute('aria-invalid', 'true');
      if (more) panel.showProblem(error.message);
      else panel.clear();
    } else if (error.code === 'reindexing') {
      panel.showProblem('Search is being rebuilt, try again in a moment. Chat keeps working meanwhile.', () =>
        run({ more }),
      );
    } else if (error.status === 429) {
      const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : ' Try again in a moment.';
      panel.showProblem(`Too many searches at once.${wait}`, () => run({ more }));
    } else {
      panel.showProblem(error.message || 'The search failed.', () => run({ more }));
    }
  }

  function openHit(hit, event) {
    // Ctrl/Cmd/Shift-click and middle-click keep their meaning (a new tab or window).
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    close();
    ctx.navigate(hitHash(hit));
  }

  /** To the field, its text selected (typing replaces it); the results of the last search come back. */
  function focus() {
    input.focus();
    input.select();
  }

  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.isComposing) {
      event.preventDefault();
      run();
    } else if (event.key === 'Escape') {
      // Not the browser's "clear the search field": Escape only closes the results.
      event.preventDefault();
      if (!panel.el.hidden) close();
      else input.blur();
    } else if (event.key === 'ArrowDown' && !panel.el.hidden) {
      const first = panel.focusables[0];
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });
  input.addEventListener('input', () => {
    if (!panel.el.hidden) renderFilters();
  });
  input.addEventListener('focus', () => {
    if (shown) open();
  });
  panel.el.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      close();
      input.focus();
      return;
    }
    const target = arrowTarget(event.key, panel.focusables, document.activeElement, input);
    if (target) {
      event.preventDefault();
      target.focus();
    }
  });
  // A press anywhere else closes the panel (the search stays, the field brings it back).
  const onPointerDown = (event) => {
    if (!el.contains(event.target)) close();
  };
  document.addEventListener('pointerdown', onPointerDown);
  const stopShortcut = listenForShortcut(focus);

  return {
    el,
    /** The room open in the chat (offered as a filter), or null when none is. */
    setOpenRoom(roomId) {
      openRoomId = roomId;
      if (!panel.el.hidden) renderFilters();
    },
    focus,
    destroy() {
      stopShortcut();
      document.removeEventListener('pointerdown', onPointerDown);
      el.remove();
    },
  };
}
