// The reaction chips under a message: one button per emoji with its count,
// highlighted (aria-pressed) when the reader's own reaction is among them, a
// tooltip naming who reacted, and a "+" chip that opens the emoji picker.
// Clicking a chip adds or removes the reader's reaction.
//
// Chips are updated in place, keyed by emoji, so a chip keeps keyboard focus
// while its count changes under it. In an end-to-end encrypted room the key is
// the reaction's token (`emoji`) and the chip shows the emoji it stands for
// (`display`, mapped back by the room session; "?" while unknown).

import { h, icon } from '../dom.js';
import { emojiName } from './emoji-names.js';

export class ReactionBar {
  /** emoji -> its chip button */
  #chips = new Map();
  #me;
  #onToggle;
  #add;

  /**
   * @param me        the reader's username
   * @param onToggle  (emoji, on) => void: a chip was clicked
   * @param onPick    (anchorButton) => void: the "+" chip was clicked
   */
  constructor(me, onToggle, onPick) {
    this.#me = me;
    this.#onToggle = onToggle;
    const label = 'Add reaction';
    this.#add = h(
      'button',
      { class: 'reaction reaction-add', type: 'button', 'aria-label': label, title: label, 'aria-haspopup': 'dialog' },
      icon('smile'),
      h('span', { 'aria-hidden': 'true' }, '+'),
    );
    this.#add.addEventListener('click', () => onPick(this.#add));
    this.el = h('div', { class: 'msg-reactions', hidden: true });
  }

  /** @param reactions the message's `reactions` ([{ emoji, count, users, display? }]); empty for a tombstone */
  set(reactions = []) {
    const hadFocus = this.el.contains(document.activeElement);
    const shown = reactions.filter((r) => r.count > 0);
    const keep = new Set(shown.map((r) => r.emoji));
    for (const [emoji, chip] of this.#chips) {
      if (!keep.has(emoji)) {
        chip.remove();
        this.#chips.delete(emoji);
      }
    }
    // Re-appending in order moves nothing that is already in place, so focus stays.
    let before = this.el.firstChild;
    for (const reaction of shown) {
      const chip = this.#chips.get(reaction.emoji) ?? this.#newChip(reaction);
      this.#fill(chip, reaction);
      if (chip !== before) this.el.insertBefore(chip, before);
      else before = before.nextSibling;
    }
    if (shown.length) this.el.append(this.#add);
    else this.#add.remove();
    this.el.hidden = shown.length === 0;
    if (hadFocus && !this.el.contains(document.activeElement)) {
      // The focused chip went away (its last reaction was removed).
      (this.#add.isConnected ? this.#add : this.el.closest('.msg')?.querySelector('.msg-actions [tabindex="0"]'))?.focus();
    }
  }

  #newChip({ emoji, display }) {
    const chip = h(
      'button',
      { class: 'reaction', type: 'button', dataset: { emoji } },
      h('span', { class: 'reaction-emoji', 'aria-hidden': 'true' }, display ?? emoji),
      h('span', { class: 'reaction-count', 'aria-hidden': 'true' }),
    );
    chip.addEventListener('click', () => this.#onToggle(emoji, chip.getAttribute('aria-pressed') !== 'true'));
    this.#chips.set(emoji, chip);
    return chip;
  }

  #fill(chip, { emoji, count, users = [], display }) {
    const mine = users.includes(this.#me);
    chip.setAttribute('aria-pressed', String(mine));
    chip.classList.toggle('mine', mine);
    chip.querySelector('.reaction-count').textContent = String(count);
    const shown = display ?? emoji;
    chip.querySelector('.reaction-emoji').textContent = shown;
    const name = emojiName(shown) ?? (display === '?' ? 'a reaction this browser cannot read' : shown);
    const who = whoReacted(users, count, this.#me);
    chip.title = `${who} reacted with ${name}`;
    chip.setAttribute(
      'aria-label',
      `${shown} ${name}: ${count} ${count === 1 ? 'reaction' : 'reactions'} (${who})${mine ? ', click to remove yours' : ''}`,
    );
  }
}

/** "You, ann and 3 others": the server names at most 20 people, the count is exact. */
function whoReacted(users, count, me) {
  const names = users.map((u) => (u === me ? 'You' : u));
  names.sort((a, b) => (a === 'You' ? -1 : b === 'You' ? 1 : 0));
  const others = count - names.length;
  if (others > 0) names.push(`${others} ${others === 1 ? 'other' : 'others'}`);
  if (names.length <= 1) return names[0] ?? `${count} people`;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}
