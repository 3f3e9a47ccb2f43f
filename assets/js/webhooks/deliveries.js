// "Recent deliveries" of one outgoing webhook: a disclosure button that opens a
// table of the newest calls (status, time, attempts, the receiver's answer or
// the error). While it is open and a call is still pending or retrying, the
// table refreshes itself until every call has settled.

import { api } from '../api.js';
import { h } from '../dom.js';
import { formatAgo, formatDuration, formatFull, parseDate } from '../format.js';

/** How often an open table with unsettled calls is read again. */
const REFRESH_MS = 2000;
const MINUTE = 60_000;

const STATUS_TEXT = {
  pending: 'pending',
  retrying: 'retrying',
  delivered: 'delivered',
  failed: 'failed',
};

let nextId = 0;

/** "HTTP 200", the error, or both; "—" before the first answer. */
function outcome(delivery) {
  const parts = [];
  if (delivery.response_status !== null && delivery.response_status !== undefined) {
    parts.push(h('span', { class: 'delivery-http' }, `HTTP ${delivery.response_status}`));
  }
  if (delivery.error) parts.push(h('span', { class: 'delivery-error' }, delivery.error));
  return parts.length ? parts : '—';
}

function time(value, now) {
  return h('time', { datetime: value, title: formatFull(parseDate(value)) }, formatAgo(value, now));
}

/** When it was last tried (or queued), and for a retry when the next try is due. */
function timing(delivery, now) {
  const sent = time(delivery.last_attempt_at ?? delivery.created_at, now);
  if (delivery.status !== 'retrying' || !delivery.next_attempt_at) return sent;
  const wait = parseDate(delivery.next_attempt_at).getTime() - now.getTime();
  const next = wait > MINUTE ? `next try in ${formatDuration(wait)}` : 'next try soon';
  return [sent, h('span', { class: 'field-hint delivery-next' }, next)];
}

/**
 * @param roomId the room
 * @param hook   the outgoing webhook (`id`, `url`)
 * @returns { el, destroy() }
 */
export function createDeliveries(roomId, hook) {
  nextId += 1;
  const panelId = `wh-deliveries-${nextId}`;
  let gone = false;
  let timer = 0;
  let loading = false;

  const toggle = h(
    'button',
    {
      class: 'btn btn-small btn-ghost delivery-toggle',
      type: 'button',
      'aria-expanded': 'false',
      'aria-controls': panelId,
      'aria-label': `Recent deliveries to ${hook.url}`,
    },
    h('span', { class: 'delivery-chevron', 'aria-hidden': 'true' }, '▸'),
    'Recent deliveries',
  );
  const refresh = h('button', { class: 'link-btn', type: 'button' }, 'Refresh');
  const body = h('div', { class: 'delivery-body' });
  const panel = h(
    'div',
    { id: panelId, class: 'deliveries', role: 'region', 'aria-label': `Recent deliveries to ${hook.url}`, hidden: true },
    body,
    h('p', { class: 'delivery-foot' }, refresh),
  );

  const render = (deliveries, error) => {
    if (error) {
      body.replaceChildren(h('p', { class: 'field-error' }, error.message || 'Could not load the deliveries.'));
      return;
    }
    if (deliveries.length === 0) {
      body.replaceChildren(h('p', { class: 'field-hint' }, 'No deliveries yet. They appear here once a message is sent.'));
      return;
    }
    const now = new Date();
    body.replaceChildren(
      h(
        'table',
        { class: 'delivery-table' },
        h('caption', { class: 'sr-only' }, `Recent deliveries to ${hook.url}, newest first`),
        h(
          'thead',
          {},
          h('tr', {}, ['Status', 'Time', 'Attempts', 'Response'].map((label) => h('th', { scope: 'col' }, label))),
        ),
        h(
          'tbody',
          {},
          deliveries.map((delivery) =>
            h(
              'tr',
              { class: 'delivery', dataset: { id: delivery.id, status: delivery.status } },
              h(
                'td',
                {},
                h('span', { class: `tag delivery-status delivery-${delivery.status}` }, STATUS_TEXT[delivery.status] ?? delivery.status),
              ),
              h('td', {}, timing(delivery, now)),
              h('td', { class: 'delivery-attempts' }, String(delivery.attempts)),
              h('td', { class: 'delivery-outcome' }, outcome(delivery)),
            ),
          ),
        ),
      ),
    );
  };

  async function load() {
    if (loading) return;
    loading = true;
    clearTimeout(timer);
    let deliveries = null;
    let error = null;
    try {
      deliveries = await api.webhookDeliveries(roomId, hook.id);
    } catch (e) {
      error = e;
    }
    loading = false;
    if (gone || panel.hidden) return;
    render(deliveries, error);
    const unsettled = deliveries?.some((d) => d.status === 'pending' || d.status === 'retrying');
    if (unsettled) timer = setTimeout(load, REFRESH_MS);
  }

  const setOpen = (open) => {
    toggle.setAttribute('aria-expanded', String(open));
    panel.hidden = !open;
    clearTimeout(timer);
    if (open) {
      body.replaceChildren(h('p', { class: 'field-hint' }, 'Loading deliveries…'));
      load();
    }
  };
  toggle.addEventListener('click', () => setOpen(panel.hidden));
  refresh.addEventListener('click', () => load());

  return {
    el: h('div', { class: 'delivery-wrap' }, toggle, panel),
    destroy() {
      gone = true;
      clearTimeout(timer);
    },
  };
}
