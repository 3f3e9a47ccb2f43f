// The reaction picker: a small popover beside the button that opened it, with
// a search box over the names in emoji-names.js and a grid of emoji buttons.
//
// Keyboard: focus starts in the search box; Enter picks the first match, Down
// moves into the grid, the arrow keys move within it, Escape closes and gives
// focus back to the button that opened the picker. A click outside closes it.
// One picker serves the whole chat view.

import { h, icon } from '../dom.js';
import { searchEmoji } from './emoji-names.js';

const COLUMNS = 8;
const GAP_PX = 6;

export class EmojiPicker {
  #anchor = null;
  #onPick = null;
  #search;
  #grid;
  #empty;
  #onOutside = (event) => {
    if (!this.el.contains(event.target) && !this.#anchor?.contains(event.target)) this.close({ restoreFocus: false });
  };
  /** The history scrolled: a floating picker would be left behind by its message. */
  #onScroll = (event) => {
    if (!this.el.contains(event.target)) this.close({ restoreFocus: false });
  };
  /** A phone keyboard opening resizes the window: follow the anchor. */
  #onResize = () => this.#place();

  constructor() {
    this.#search = h('input', {
      type: 'search',
      class: 'emoji-search',
      placeholder: 'Search emoji',
      'aria-label': 'Search emoji',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    this.#grid = h('div', { class: 'emoji-grid', role: 'group', 'aria-label': 'Emoji' });
    this.#empty = h('p', { class: 'emoji-empty', hidden: true }, 'No emoji with that name.');
    this.el = h(
      'div',
      { class: 'emoji-picker', role: 'dialog', 'aria-label': 'Add a reaction', tabindex: '-1', hidden: true },
      h('div', { class: 'emoji-search-box' }, icon('search'), this.#search),
      this.#grid,
      this.#empty,
    );
    this.#search.addEventListener('input', () => this.#render());
    this.#search.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        this.#grid.querySelector('button')?.click();
      } else if (event.key === 'ArrowDown') {
        event.preventDefault();
        this.#grid.querySelector('button')?.focus();
      }
    });
    this.#grid.addEventListener('keydown', (event) => this.#moveFocus(event));
    this.el.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        this.close();
      }
    });
    document.body.append(this.el);
  }

  get isOpen() {
    return !this.el.hidden;
  }

  /**
   * Opens beside `anchor`; `onPick(emoji)` is called with the chosen emoji,
   * after the picker has closed. Opening from the same anchor again closes it.
   */
  open(anchor, onPick) {
    if (this.isOpen && this.#anchor === anchor) {
      this.close();
      return;
    }
    this.close({ restoreFocus: false });
    this.#anchor = anchor;
    this.#onPick = onPick;
    this.#search.value = '';
    this.#render();
    this.el.hidden = false;
    anchor.setAttribute('aria-expanded', 'true');
    this.#place();
    document.addEventListener('pointerdown', this.#onOutside, true);
    window.addEventListener('resize', this.#onResize);
    document.addEventListener('scroll', this.#onScroll, true);
    // On a phone, focusing the search box would pop the keyboard over the grid.
    if (matchMedia('(hover: hover) and (pointer: fine)').matches) this.#search.focus();
    else this.el.focus();
  }

  close({ restoreFocus = true } = {}) {
    if (!this.isOpen) return;
    this.el.hidden = true;
    document.removeEventListener('pointerdown', this.#onOutside, true);
    window.removeEventListener('resize', this.#onResize);
    document.removeEventListener('scroll', this.#onScroll, true);
    const anchor = this.#anchor;
    this.#anchor = null;
    this.#onPick = null;
    anchor?.setAttribute('aria-expanded', 'false');
    if (restoreFocus && anchor?.isConnected) anchor.focus();
  }

  destroy() {
    this.close({ restoreFocus: false });
    this.el.remove();
  }

  #render() {
    const found = searchEmoji(this.#search.value);
    this.#grid.replaceChildren(
      ...found.map(({ emoji, name }) => {
        const button = h('button', { class: 'emoji-option', type: 'button', 'aria-label': name, title: name }, emoji);
        button.addEventListener('click', () => this.#pick(emoji));
        return button;
      }),
    );
    this.#empty.hidden = found.length > 0;
  }

  #pick(emoji) {
    const onPick = this.#onPick;
    this.close();
    onPick?.(emoji);
  }

  /** Below the anchor when there is room, else above; always inside the window. */
  #place() {
    const box = this.#anchor.getBoundingClientRect();
    const { width, height } = this.el.getBoundingClientRect();
    const below = box.bottom + GAP_PX + height <= window.innerHeight;
    const top = below ? box.bottom + GAP_PX : Math.max(GAP_PX, box.top - GAP_PX - height);
    const left = Math.min(Math.max(GAP_PX, box.right - width), window.innerWidth - width - GAP_PX);
    // CSSOM writes are allowed under the CSP (style attributes in markup are not).
    this.el.style.top = `${Math.round(top)}px`;
    this.el.style.left = `${Math.round(Math.max(GAP_PX, left))}px`;
  }

  /** Arrow keys, Home and End within the grid; Up from the first row returns to the search box. */
  #moveFocus(event) {
    const buttons = [...this.#grid.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -COLUMNS, ArrowDown: COLUMNS }[event.key];
    let next;
    if (step !== undefined) next = at + step;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = buttons.length - 1;
    else return;
    event.preventDefault();
    if (next < 0) this.#search.focus();
    else buttons[Math.min(next, buttons.length - 1)].focus();
  }
}
