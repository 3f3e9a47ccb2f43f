// Who is online in the room: seeded by `joined`, kept current by `presence`.

import { avatar, h } from '../dom.js';

export class Members extends EventTarget {
  #online = new Set();
  #me;
  #stale = false;

  constructor(me) {
    super();
    this.#me = me;
    this.heading = h('h2', { class: 'members-title' });
    this.list = h('ul', { class: 'members-list' });
    this.el = h('div', { class: 'members-inner' }, this.heading, this.list);
    this.#render();
  }

  get count() {
    return this.#online.size;
  }

  has(user) {
    return this.#online.has(user);
  }

  /** Replaces the whole list (from a `joined` frame). */
  set(usernames) {
    this.#online = new Set(usernames);
    this.#render();
  }

  /** While disconnected the list may be out of date: show it dimmed. */
  setStale(stale) {
    if (stale === this.#stale) return;
    this.#stale = stale;
    this.#render();
  }

  setOnline(user, online) {
    if (online === this.#online.has(user)) return;
    if (online) this.#online.add(user);
    else this.#online.delete(user);
    this.#render();
  }

  #render() {
    const names = [...this.#online].sort((a, b) => {
      if (a === this.#me) return -1;
      if (b === this.#me) return 1;
      return a.localeCompare(b);
    });
    this.heading.textContent = this.#stale ? 'Reconnecting…' : `Online — ${names.length}`;
    this.el.classList.toggle('stale', this.#stale);
    this.list.replaceChildren(
      ...names.map((name) =>
        h(
          'li',
          { class: 'member' },
          h('span', { class: 'member-avatar' }, avatar(name, 'avatar-sm'), h('span', { class: 'presence-dot', 'aria-hidden': 'true' })),
          h('span', { class: 'member-name' }, name),
          name === this.#me ? h('span', { class: 'member-you' }, 'you') : null,
        ),
      ),
    );
    if (names.length === 0) this.list.append(h('li', { class: 'member-empty' }, 'Nobody is here right now.'));
    this.dispatchEvent(new CustomEvent('change'));
  }
}
