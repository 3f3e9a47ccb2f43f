// The room's people: its members (GET /api/rooms/{id}/members) merged with
// who is online (seeded by `joined`, kept current by `presence`). Online
// people come first; each row can offer "message" and "remove" buttons,
// depending on what the viewer may do.

import { botBadge, isBot } from '../bots.js';
import { avatar, h, icon } from '../dom.js';

export class Members extends EventTarget {
  #online = new Set();
  /** username -> role, once the member list has loaded; null before. */
  #roster = null;
  #me;
  #stale = false;
  #actions;
  #canRemove = () => false;
  #canMessage = false;
  #showRoles = true;

  /**
   * @param me       the signed-in username
   * @param actions  { onMessage(username), onRemove(username) }
   */
  constructor(me, actions) {
    super();
    this.#me = me;
    this.#actions = actions;
    this.heading = h('h2', { class: 'members-title', id: 'members-title' });
    this.summary = h('p', { class: 'members-summary' });
    this.list = h('ul', { class: 'members-list', 'aria-labelledby': 'members-title' });
    this.el = h('div', { class: 'members-inner' }, this.heading, this.summary, this.list);
    this.#render();
  }

  /** How many people are online. */
  get count() {
    return this.#online.size;
  }

  /** How many members the room has (null until the list has loaded). */
  get memberCount() {
    return this.#roster ? this.#roster.size : null;
  }

  /** The members' usernames (empty until the list has loaded). */
  get memberNames() {
    return [...(this.#roster?.keys() ?? [])];
  }

  has(user) {
    return this.#online.has(user);
  }

  isMember(user) {
    return this.#roster?.has(user) ?? false;
  }

  roleOf(user) {
    return this.#roster?.get(user) ?? null;
  }

  /** Replaces who is online (from a `joined` frame). */
  set(usernames) {
    this.#online = new Set(usernames);
    this.#render();
  }

  /**
   * Replaces the member list.
   * @param members    [{ username, role }]
   * @param canRemove  (username) => bool
   * @param canMessage whether rows offer "message this person"
   * @param showRoles  whether to tag the owner (not in direct rooms, where nobody runs anything)
   */
  setRoster(members, { canRemove = () => false, canMessage = false, showRoles = true } = {}) {
    this.#roster = new Map(members.map((m) => [m.username, m.role]));
    this.#canRemove = canRemove;
    this.#canMessage = canMessage;
    this.#showRoles = showRoles;
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
    const names = [...new Set([...(this.#roster?.keys() ?? []), ...this.#online])].sort((a, b) => {
      if (a === this.#me) return -1;
      if (b === this.#me) return 1;
      const online = Number(this.#online.has(b)) - Number(this.#online.has(a));
      return online || a.localeCompare(b);
    });
    const total = this.#roster ? this.#roster.size : names.length;
    this.heading.textContent = this.#stale ? 'Reconnecting…' : `Members — ${total}`;
    this.summary.textContent = `${this.#online.size} online`;
    this.el.classList.toggle('stale', this.#stale);
    this.list.replaceChildren(...names.map((name) => this.#row(name)));
    if (names.length === 0) this.list.append(h('li', { class: 'member-empty' }, 'Nobody is here right now.'));
    this.dispatchEvent(new CustomEvent('change'));
  }

  #row(name) {
    const online = this.#online.has(name);
    const role = this.#roster?.get(name);
    const actions = [];
    if (this.#canMessage && name !== this.#me) {
      const message = h(
        'button',
        { class: 'icon-btn member-action', type: 'button', 'aria-label': `Message ${name}`, title: `Message ${name}` },
        icon('chat'),
      );
      message.addEventListener('click', () => this.#actions.onMessage(name));
      actions.push(message);
    }
    if (role && name !== this.#me && this.#canRemove(name)) {
      const remove = h(
        'button',
        {
          class: 'icon-btn icon-btn-danger member-action',
          type: 'button',
          'aria-label': `Remove ${name} from the room`,
          title: `Remove ${name}`,
        },
        icon('userMinus'),
      );
      remove.addEventListener('click', () => this.#actions.onRemove(name, remove));
      actions.push(remove);
    }
    return h(
      'li',
      { class: `member${online ? ' online' : ''}`, dataset: { user: name } },
      h(
        'span',
        { class: 'member-avatar' },
        avatar(name, 'avatar-sm'),
        online ? h('span', { class: 'presence-dot', 'aria-hidden': 'true' }) : null,
      ),
      h('span', { class: 'member-name' }, name),
      isBot(name) ? botBadge() : null,
      online ? h('span', { class: 'sr-only' }, ' (online)') : null,
      this.#showRoles && role === 'owner' ? h('span', { class: 'tag member-role' }, 'owner') : null,
      name === this.#me ? h('span', { class: 'member-you' }, 'you') : null,
      actions.length ? h('span', { class: 'member-actions' }, actions) : null,
    );
  }
}
