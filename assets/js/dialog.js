// A modal confirmation built on <dialog> (focus trap, Escape to cancel, and
// no window.confirm, which some browsers suppress and tests treat as a popup).

import { h } from './dom.js';

/**
 * @returns Promise<boolean> true when the user confirmed
 */
export function confirmDialog({ title, text, confirm, danger = false }) {
  return new Promise((resolve) => {
    const ok = h('button', { class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, type: 'button' }, confirm);
    const cancel = h('button', { class: 'btn btn-ghost', type: 'button', autofocus: true }, 'Cancel');
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'dialog-title', 'aria-describedby': 'dialog-text' },
      h('h2', { id: 'dialog-title' }, title),
      h('p', { id: 'dialog-text' }, text),
      h('div', { class: 'dialog-actions' }, cancel, ok),
    );
    ok.addEventListener('click', () => dialog.close('ok'));
    cancel.addEventListener('click', () => dialog.close('cancel'));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
