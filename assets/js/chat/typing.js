// "alice is typing…": each `typing` frame shows the user for a few seconds;
// a message from them clears it at once.

import { h } from '../dom.js';

const SHOW_FOR_MS = 5000;

export class TypingIndicator {
  /** user -> timeout id */
  #typers = new Map();

  constructor() {
    this.text = h('span', { class: 'typing-text' });
    this.el = h(
      'div',
      { class: 'typing', 'aria-live': 'polite' },
      h('span', { class: 'typing-dots', 'aria-hidden': 'true' }, h('span'), h('span'), h('span')),
      this.text,
    );
    this.#render();
  }

  show(user) {
    clearTimeout(this.#typers.get(user));
    this.#typers.set(
      user,
      setTimeout(() => this.clear(user), SHOW_FOR_MS),
    );
    this.#render();
  }

  clear(user) {
    if (!this.#typers.has(user)) return;
    clearTimeout(this.#typers.get(user));
    this.#typers.delete(user);
    this.#render();
  }

  destroy() {
    for (const t of this.#typers.values()) clearTimeout(t);
    this.#typers.clear();
  }

  #render() {
    const users = [...this.#typers.keys()];
    let text = '';
    if (users.length === 1) text = `${users[0]} is typing…`;
    else if (users.length === 2) text = `${users[0]} and ${users[1]} are typing…`;
    else if (users.length > 2) text = 'Several people are typing…';
    this.text.textContent = text;
    this.el.classList.toggle('active', users.length > 0);
  }
}
