// The scrolling message history of one room.
//
// Holds the messages sorted by id (ids sort in send order), one row per id:
// a message that arrives again (REST page + WebSocket backlog, a replay after
// reconnect, an ack of a retried send, an edit, deletion or reaction) updates
// its row in place instead of adding one; a stale state never replaces a
// newer one. Rows live in message-row.js. Consecutive
// messages by one author within a few minutes share a header (message-group.js),
// as in most chat apps; day dividers separate days. The view sticks to the bottom while the
// reader is there; when they have scrolled up, new messages raise a
// "New messages" button instead of yanking the view. A room opened with
// unread messages shows a "New messages" divider above the first of them.
//
// Jumping to a message that is not loaded (a search hit, a quote, a
// notification) fetches the page around it. When that page does not touch the
// loaded messages, it replaces them: the list is then a window into older
// history, which grows both ways as the reader scrolls, ignores live
// messages (they load on the way down), and goes back to the newest messages
// with the jump button or when the reader sends one.

import { knownBots } from '../bots.js';
import { h, icon } from '../dom.js';
import { formatDay, parseDate, sameLocalDay } from '../format.js';
import { toast } from '../toast.js';
import { markBots, messageGroup } from './message-group.js';
import { MessageRow } from './message-row.js';

const GROUP_WINDOW_MS = 5 * 60_000;
/** Within this many pixels of the bottom counts as "at the bottom". */
const STICK_SLACK_PX = 48;
/** Start fetching older messages this close to the top. */
const LOAD_OLDER_PX = 240;

export class MessageList {
  /** Messages in id order. */
  #messages = [];
  /** id -> its MessageRow (kept across re-renders, so an open editor survives them). */
  #rows = new Map();
  /** Changes to messages older than the loaded ones, seen while an older page is in flight. */
  #early = new Map();
  #rowContext;
  #stuck = true;
  #unseen = 0;
  #lastGroup = null;
  #reachedStart = false;
  #loadingOlder = false;
  /** False while the list is a window into older history (see the top of the file). */
  #reachedEnd = true;
  /**
   * What a window is fetching past its end: null, 'page' (the next newer
   * page) or 'latest' (the newest page, to leave the window).
   */
  #loadingNewer = null;
  /** Live messages newer than the window, seen while `#loadingNewer`: applied when the page is in. */
  #late = new Map();
  /** Bumped whenever the loaded messages are replaced: pages fetched for the old ones are dropped. */
  #windowSeq = 0;
  #onLoadOlder;
  #onLoadNewer;
  #onLoadAround;
  #onLoadLatest;
  #onAuthor;
  #me;
  #resizeObserver;
  #start;
  /** The reader's read marker when the room was opened (null: no divider). */
  #readBefore = null;
  /** The first message after `#readBefore`, which the divider goes above. */
  #firstNewId = null;
  /** Keep the divider in view (it may move up as older pages load) until the reader scrolls themselves. */
  #revealing = false;
  #newDivider = h(
    'div',
    { class: 'new-divider', role: 'separator', 'aria-label': 'New messages' },
    h('span', {}, 'New messages'),
  );
  #onBotsKnown = () => markBots(this.list);

  /**
   * @param opts.start        { title, text } of the "beginning of the room" marker
   * @param opts.me           the signed-in username (their own name is not a button)
   * @param opts.onLoadOlder  async (beforeId) => { messages, reachedStart }, called when the reader nears the top
   * @param opts.onLoadNewer  async (afterId) => { messages, reachedEnd }, when the reader nears the bottom of a window
   * @param opts.onLoadAround async (id) => messages: the page centred on a message to jump to
   * @param opts.onLoadLatest async () => { messages, reachedStart }: the newest page, to leave a window
   * @param opts.onAuthor     (username) => void, when someone's name is clicked (e.g. to message them); optional
   * @param opts.actions      what rows do: { canEdit, canDelete, reply, react, pickReaction, edit, remove,
   *                          onEditClosed } (see RowContext in message-row.js)
   */
  constructor({ start, me, onLoadOlder, onLoadNewer, onLoadAround, onLoadLatest, onAuthor = null, actions }) {
    this.#start = start;
    this.#me = me;
    this.#onLoadOlder = onLoadOlder;
    this.#onLoadNewer = onLoadNewer;
    this.#onLoadAround = onLoadAround;
    this.#onLoadLatest = onLoadLatest;
    this.#onAuthor = onAuthor;
    this.#rowContext = {
      ...actions,
      me,
      lookup: (id) => this.#rows.get(id)?.message,
      onQuote: (id) => this.jumpTo(id),
    };
    this.list = h('div', { class: 'message-list' });
    this.top = h('div', { class: 'history-top' });
    /** Pending (not yet acknowledged) sends render here, below the history. */
    this.pending = h('div', { class: 'pending-list' });
    this.scroller = h(
      'div',
      { class: 'messages', role: 'log', 'aria-label': 'Messages', 'aria-live': 'polite', tabindex: '0' },
      this.top,
      this.list,
      this.pending,
    );
    this.unseenLabel = h('span', {}, 'New messages');
    this.jump = h(
      'button',
      { class: 'jump-new', type: 'button', hidden: true, 'aria-label': 'Jump to new messages' },
      icon('arrowDown'),
      this.unseenLabel,
    );
    this.jump.addEventListener('click', () => this.scrollToBottom({ smooth: true }));
    this.el = h('div', { class: 'messages-wrap' }, this.scroller, this.jump);

    this.scroller.addEventListener('scroll', () => this.#onScroll(), { passive: true });
    for (const type of ['wheel', 'touchstart', 'pointerdown', 'keydown']) {
      this.scroller.addEventListener(type, () => {
        this.#revealing = false;
      }, { passive: true });
    }
    // Keep the newest message in view when the viewport shrinks (phone keyboard,
    // composer growing) or content reflows.
    this.#resizeObserver = new ResizeObserver(() => {
      if (this.#stuck) this.#pinBottom();
    });
    this.#resizeObserver.observe(this.scroller);
    this.#resizeObserver.observe(this.list);
    knownBots.addEventListener('change', this.#onBotsKnown);
    this.#renderTop();
  }

  get lastId() {
    return this.#messages.at(-1)?.id;
  }

  get firstId() {
    return this.#messages[0]?.id;
  }

  get isAtBottom() {
    return this.#stuck;
  }

  /** @param start { title, text } of the "beginning of the room" marker */
  setStart(start) {
    this.#start = start;
    this.#renderTop();
  }

  /**
   * Replaces the history with the newest page.
   * @param readUpTo with unread messages, the reader's read marker ('' when they
   *                 read nothing yet): a "New messages" divider goes above the
   *                 first message after it, scrolled into view; null: none
   */
  setHistory(messages, reachedStart, readUpTo = null) {
    this.#readBefore = readUpTo;
    this.#replaceMessages(messages, { reachedStart, reachedEnd: true });
    this.scrollToBottom();
    this.#revealing = readUpTo !== null;
    this.#revealNewDivider();
    this.#fillViewport();
  }

  /** Whether the newest loaded message is (at least partly) inside the visible part of the list. */
  newestVisible() {
    const row = this.#rows.get(this.lastId)?.el;
    if (!row?.isConnected) return false;
    const r = row.getBoundingClientRect();
    const s = this.scroller.getBoundingClientRect();
    return r.height > 0 && r.top < s.bottom && r.bottom > s.top;
  }

  /** When the divider is above the view (more unread than fit), scrolls up to it. */
  #revealNewDivider() {
    if (!this.#revealing || !this.#newDivider.isConnected) return;
    const above = this.#newDivider.getBoundingClientRect().top - this.scroller.getBoundingClientRect().top;
    if (above >= 0) return;
    this.#stuck = false;
    this.scroller.scrollTop = Math.max(0, this.scroller.scrollTop + above - 8);
  }

  /**
   * Adds a message or shows its newer state (live or replayed). Returns
   * 'added', 'updated', or 'ignored' (a stale state, or a message older than
   * the loaded history: scrolling up fetches its current state anyway).
   * @param own true when the current user sent it: always scroll to it
   */
  upsert(message, { own = false } = {}) {
    if (this.#rows.has(message.id)) return this.#update(message) ? 'updated' : 'ignored';
    if (!this.#reachedStart && this.firstId && message.id < this.firstId) {
      if (this.#loadingOlder) this.#early.set(message.id, message);
      return 'ignored';
    }
    if (!this.#reachedEnd && (!this.lastId || message.id > this.lastId)) {
      // Reading older history: newer messages load on the way down.
      if (this.#loadingNewer) this.#late.set(message.id, message);
      if (own) this.scrollToBottom();
      else this.#countUnseen();
      return 'ignored';
    }
    this.#add(message, own);
    return 'added';
  }

  /** The row of a loaded message. */
  row(id) {
    return this.#rows.get(id);
  }

  /** The reader's newest message that can still be edited (for Up in an empty composer). */
  lastEditable() {
    for (let i = this.#messages.length - 1; i >= 0; i -= 1) {
      const m = this.#messages[i];
      if (m.author === this.#me && !m.deleted) return this.#rows.get(m.id);
    }
    return undefined;
  }

  /** Permissions changed (the reader's role in the room): rows re-check their actions. */
  refreshActions() {
    for (const row of this.#rows.values()) row.refresh();
  }

  /**
   * Scrolls to a message and highlights it, fetching the page around it when
   * it is not loaded; says so when it cannot be found, unless `quiet` (a room
   * opened from a notification or a search hit then simply stays open).
   * @param opts.smooth animate the scroll (not when a room has just opened at the message)
   */
  async jumpTo(id, { quiet = false, smooth = true } = {}) {
    // The reader asked for this message: the "New messages" divider no longer pulls the view.
    this.#revealing = false;
    let problem = 'That message is not in this room any more.';
    if (!this.#rows.has(id) && !(this.firstId <= id && id <= this.lastId)) {
      try {
        await this.#loadAround(id);
      } catch (error) {
        problem = `Could not load that message: ${error.message}`;
      }
    }
    const row = this.#rows.get(id);
    if (!row) {
      if (!quiet) toast(problem);
      return;
    }
    const animate = smooth && !matchMedia('(prefers-reduced-motion: reduce)').matches;
    row.el.scrollIntoView({ block: 'center', behavior: animate ? 'smooth' : 'auto' });
    // Settle "at the bottom" now, not at the scroll event: an older page
    // arriving first would otherwise pin the view back to the newest message.
    if (!animate) this.#onScroll();
    row.flash();
  }

  /**
   * Loads the page centred on message `id`: merged with the loaded messages
   * when the two overlap (the history stays one stretch), else in their place,
   * as a window into older history.
   */
  async #loadAround(id) {
    const seq = this.#windowSeq;
    const page = await this.#onLoadAround(id);
    if (seq !== this.#windowSeq || !page.some((m) => m.id === id)) return;
    const [first, last] = [page[0].id, page.at(-1).id];
    if (this.firstId && last >= this.firstId && first <= this.lastId) {
      for (const m of page) this.#insertSorted(m);
      this.#rerenderKeepingOffset();
    } else {
      this.#replaceMessages(page, { reachedStart: false, reachedEnd: false });
    }
  }

  /** Goes back from a window into older history to the newest messages. */
  async #returnToPresent() {
    if (this.#loadingNewer === 'latest') return;
    this.#windowSeq += 1;
    const seq = this.#windowSeq;
    this.#loadingNewer = 'latest';
    let page;
    try {
      page = await this.#onLoadLatest();
    } catch (error) {
      if (seq !== this.#windowSeq) return;
      this.#loadingNewer = null;
      toast(`Could not load the newest messages: ${error.message}`, 'error');
      return;
    }
    if (seq !== this.#windowSeq) return;
    const late = [...this.#late.values()];
    this.#replaceMessages(page.messages, { reachedStart: page.reachedStart, reachedEnd: true });
    for (const m of late) this.upsert(m);
    this.scrollToBottom();
  }

  /** In a window into older history, near its bottom: fetches the next newer page. */
  async #loadNewer() {
    if (this.#reachedEnd || this.#loadingNewer || !this.lastId) return;
    const seq = this.#windowSeq;
    this.#loadingNewer = 'page';
    let page;
    try {
      page = await this.#onLoadNewer(this.lastId);
    } catch {
      if (seq === this.#windowSeq) this.#loadingNewer = null; // scrolling down again retries
      return;
    }
    if (seq !== this.#windowSeq) return;
    for (const m of page.messages) this.#insertSorted(m);
    this.#reachedEnd = page.reachedEnd;
    this.#loadingNewer = null;
    const top = this.scroller.scrollTop;
    this.#renderAll();
    this.scroller.scrollTop = top;
    // Changes and messages that arrived while the page was in flight.
    const late = [...this.#late.values()];
    this.#late.clear();
    for (const m of late) this.upsert(m);
    if (this.#reachedEnd) this.#onScroll();
  }

  /** Replaces every loaded message (the newest page, or a window into older history). */
  #replaceMessages(messages, { reachedStart, reachedEnd }) {
    this.#windowSeq += 1;
    this.#messages = [];
    this.#rows.clear();
    for (const m of messages) this.#insertSorted(m);
    this.#reachedStart = reachedStart;
    this.#reachedEnd = reachedEnd;
    this.#loadingOlder = false;
    this.#loadingNewer = null;
    this.#early.clear();
    this.#late.clear();
    this.#stuck = reachedEnd;
    this.#unseen = 0;
    this.unseenLabel.textContent = 'Newest messages';
    this.jump.hidden = reachedEnd;
    this.#renderAll();
    this.#renderTop();
  }

  /** A message arrived out of view: the jump button counts it. */
  #countUnseen() {
    this.#unseen += 1;
    this.unseenLabel.textContent = this.#unseen === 1 ? '1 new message' : `${this.#unseen} new messages`;
    this.jump.hidden = false;
  }

  #add(message, own) {
    const wasStuck = this.#stuck;
    const appended = this.#insertSorted(message);
    if (appended) this.#appendRow(message);
    else this.#rerenderKeepingOffset();
    if (wasStuck || own) this.scrollToBottom();
    else this.#countUnseen();
  }

  /** Shows a newer state of a loaded message; false when it is not newer. */
  #update(message) {
    if (!this.#rows.get(message.id).update(message)) return false;
    const at = this.#messages.findIndex((m) => m.id === message.id);
    this.#messages[at] = message;
    this.#refreshRepliesTo(message.id);
    return true;
  }

  /** Scrolls to the newest message and clears the "new messages" marker. */
  scrollToBottom({ smooth = false } = {}) {
    if (!this.#reachedEnd) {
      this.#returnToPresent();
      return;
    }
    this.#stuck = true;
    this.#revealing = false;
    this.#unseen = 0;
    this.jump.hidden = true;
    if (smooth) this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: 'smooth' });
    else this.#pinBottom();
  }

  destroy() {
    knownBots.removeEventListener('change', this.#onBotsKnown);
    this.#resizeObserver.disconnect();
  }

  #pinBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  #onScroll() {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop - s.clientHeight;
    this.#stuck = this.#reachedEnd && fromBottom <= STICK_SLACK_PX;
    if (this.#stuck && !this.jump.hidden) {
      this.#unseen = 0;
      this.jump.hidden = true;
    }
    if (s.scrollTop < LOAD_OLDER_PX) this.#loadOlder();
    if (!this.#reachedEnd && fromBottom < LOAD_OLDER_PX) this.#loadNewer();
  }

  /** Fetches older pages until the history fills the viewport (or the start is reached). */
  async #fillViewport() {
    while (!this.#reachedStart && this.scroller.scrollHeight <= this.scroller.clientHeight + LOAD_OLDER_PX) {
      const before = this.#messages.length;
      await this.#loadOlder();
      if (this.#messages.length === before) break;
    }
  }

  async #loadOlder() {
    if (this.#reachedStart || this.#loadingOlder || !this.firstId) return;
    this.#loadingOlder = true;
    this.#renderTop();
    const seq = this.#windowSeq;
    try {
      const { messages, reachedStart } = await this.#onLoadOlder(this.firstId);
      // The loaded messages were replaced meanwhile: this page belongs to them.
      if (seq !== this.#windowSeq) return;
      for (const m of messages) this.#insertSorted(m);
      this.#reachedStart = reachedStart;
      // A change that arrived while the page was in flight may be newer than the page.
      for (const m of this.#early.values()) if (this.#rows.has(m.id)) this.#update(m);
      this.#rerenderKeepingOffset();
    } catch {
      if (seq !== this.#windowSeq) return;
      // Shown in the top marker; scrolling up again retries.
      this.#loadingOlder = false;
      this.#early.clear();
      this.#renderTop('Could not load older messages. Scroll up to retry.');
      return;
    }
    this.#early.clear();
    this.#loadingOlder = false;
    this.#renderTop();
    // The first unread message may have been in this page.
    this.#revealNewDivider();
  }

  /** Inserts into the sorted array (a known id is left alone); returns true when it went at the end. */
  #insertSorted(message) {
    if (this.#rows.has(message.id)) return true;
    this.#rows.set(message.id, new MessageRow(message, this.#rowContext));
    const msgs = this.#messages;
    if (msgs.length === 0 || msgs.at(-1).id < message.id) {
      msgs.push(message);
      return true;
    }
    let i = msgs.length - 1;
    while (i >= 0 && msgs[i].id > message.id) i -= 1;
    msgs.splice(i + 1, 0, message);
    return false;
  }

  /** Re-renders everything, keeping what the reader sees in place (older pages arrive above). */
  #rerenderKeepingOffset() {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    this.#renderAll();
    if (this.#stuck) this.#pinBottom();
    else s.scrollTop = s.scrollHeight - fromBottom;
  }

  #renderAll() {
    // Rows move into new groups; the one holding focus (an open editor) gets it back.
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    this.list.replaceChildren();
    this.#lastGroup = null;
    // Live messages never move the divider; an older page may hold the first unread one.
    const readBefore = this.#readBefore;
    this.#firstNewId = readBefore === null ? null : (this.#messages.find((m) => m.id > readBefore)?.id ?? null);
    for (const m of this.#messages) this.#appendRow(m);
    for (const row of this.#rows.values()) if (row.message.reply_to) row.refresh();
    if (focused?.isConnected) focused.focus({ preventScroll: true });
  }

  /** Rows quoting `id` show its new state (edited text, or that it was deleted). */
  #refreshRepliesTo(id) {
    for (const row of this.#rows.values()) if (row.message.reply_to === id) row.refresh();
  }

  #appendRow(message) {
    const sentAt = parseDate(message.sent_at);
    const last = this.#lastGroup;
    const sameDay = last && sameLocalDay(last.at, sentAt);
    if (!sameDay) {
      this.list.append(
        h(
          'div',
          { class: 'day-divider', role: 'separator', 'aria-label': formatDay(sentAt) },
          h('span', {}, formatDay(sentAt)),
        ),
      );
    }
    const firstNew = message.id === this.#firstNewId;
    if (firstNew) this.list.append(this.#newDivider);
    // A webhook's messages group by webhook, not with those of the person who added it.
    const sender = message.webhook ? `webhook:${message.webhook.id}:${message.webhook.name}` : message.author;
    const continues = !firstNew && sameDay && last.sender === sender && sentAt.getTime() - last.at.getTime() < GROUP_WINDOW_MS;
    const messageRow = this.#rows.get(message.id);
    messageRow.setContinues(continues);
    const row = messageRow.el;
    if (continues) {
      last.rows.append(row);
      last.at = sentAt;
      return;
    }
    const { el: group, rows } = messageGroup(message, row, { me: this.#me, onAuthor: this.#onAuthor });
    this.list.append(group);
    this.#lastGroup = { sender, at: sentAt, rows };
  }

  #renderTop(errorText) {
    if (errorText) {
      this.top.replaceChildren(h('p', { class: 'history-note error' }, errorText));
    } else if (this.#loadingOlder) {
      this.top.replaceChildren(h('p', { class: 'history-note' }, h('span', { class: 'spinner' }), 'Loading older messages…'));
    } else if (this.#reachedStart) {
      this.top.replaceChildren(
        h(
          'div',
          { class: 'history-start' },
          h('div', { class: 'history-start-icon', 'aria-hidden': 'true' }, this.#start.glyph ?? '#'),
          h('h2', {}, this.#start.title),
          h('p', {}, this.#start.text),
        ),
      );
    } else {
      this.top.replaceChildren();
    }
  }
}
