// The connection indicator: a small status pill fed by the ChatSocket's
// state, with a countdown while a reconnect is scheduled and a "Retry now".

import { h } from '../dom.js';

const LABELS = {
  open: 'Connected',
  connecting: 'Connecting…',
  waiting: 'Reconnecting',
  offline: 'Offline',
  stopped: 'Disconnected',
};

/** Returns { el, destroy } for a status pill bound to `socket`. */
export function connectionStatus(socket) {
  const dot = h('span', { class: 'status-dot', 'aria-hidden': 'true' });
  const label = h('span', { class: 'status-label' });
  const retry = h('button', { class: 'status-retry', type: 'button', hidden: true }, 'Retry now');
  const el = h('div', { class: 'connection', role: 'status', 'aria-live': 'polite' }, dot, label, retry);
  retry.addEventListener('click', () => socket.reconnectNow());

  let ticker = 0;
  const render = () => {
    const { state } = socket;
    el.dataset.state = state;
    let text = LABELS[state] ?? state;
    if (state === 'waiting') {
      const secs = Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000));
      text = secs > 0 ? `Reconnecting in ${secs}s` : 'Reconnecting…';
    }
    if (label.textContent !== text) label.textContent = text;
    el.title = state === 'open' ? 'Live: new messages arrive instantly' : 'Not connected: messages will be sent once back online';
    retry.hidden = state !== 'waiting';
    clearInterval(ticker);
    if (state === 'waiting') ticker = setInterval(render, 1000);
  };
  socket.addEventListener('state', render);
  render();

  return {
    el,
    destroy() {
      clearInterval(ticker);
      socket.removeEventListener('state', render);
    },
  };
}
