// One room in the landing page's lists: its glyph (# public, lock private,
// @ direct), name, topic or creator, age, expiry and last activity. A public
// room the user has not joined also gets a "Join" button.

import { avatar, encryptedBadge, h, icon, roomGlyph } from '../dom.js';
import { formatAgo, formatExpiresIn, formatFull, parseDate } from '../format.js';
import { dmPartners, roomTitle } from '../rooms-store.js';

const EXPIRY_SOON_MS = 24 * 3600 * 1000;

/**
 * @param me    the signed-in username (direct rooms are named by the others)
 * @param join  (room, button) => void, for public rooms the user is not in
 */
export function roomItem(room, now, me, join) {
  const href = `#/room/${encodeURIComponent(room.id)}`;
  const title = roomTitle(room, me);
  const glyph =
    room.kind === 'direct' ? h('span', { class: 'room-icon room-icon-dm' }, avatar(dmPartners(room, me)[0])) : roomGlyph(room, 'room-icon');
  const side = roomSide(room, now);
  // A direct room's glyph is an avatar: an encrypted one says so beside its name.
  const badge = room.kind === 'direct' && room.encrypted ? encryptedBadge('e2e-badge') : null;

  if (room.is_member || !join) {
    return h(
      'li',
      {},
      h(
        'a',
        { class: 'room-card', href, dataset: { kind: room.kind ?? 'public' } },
        glyph,
        h('span', { class: 'room-main' }, h('span', { class: 'room-name' }, title, badge), roomMeta(room, now)),
        side,
      ),
    );
  }
  // Not joined: the name is the link (stretched over the card by CSS) and the
  // Join button sits above it, so both stay separate controls.
  const joinButton = h('button', { class: 'btn btn-small btn-primary room-join', type: 'button', 'aria-label': `Join #${room.name}` }, 'Join');
  joinButton.addEventListener('click', () => join(room, joinButton));
  return h(
    'li',
    {},
    h(
      'div',
      { class: 'room-card room-card-browse', dataset: { kind: room.kind ?? 'public' } },
      glyph,
      h(
        'span',
        { class: 'room-main' },
        h('a', { class: 'room-name room-link', href }, title),
        roomMeta(room, now),
      ),
      side,
      joinButton,
    ),
  );
}

function roomMeta(room, now) {
  const created = h(
    'time',
    { datetime: room.created_at, title: formatFull(parseDate(room.created_at)) },
    `created ${formatAgo(room.created_at, now)}`,
  );
  if (room.kind === 'direct') {
    const people = room.member_count ?? room.members?.length ?? 2;
    return h('span', { class: 'room-meta' }, `Direct message · ${people} people · `, created);
  }
  return h(
    'span',
    { class: 'room-meta' },
    room.topic ? [h('span', { class: 'room-topic', title: room.topic }, room.topic), ' · '] : null,
    room.kind === 'private' ? (room.encrypted ? 'private, end-to-end encrypted · ' : 'private · ') : null,
    'by ',
    h('span', { class: 'room-creator' }, room.created_by),
    ' · ',
    created,
    room.member_count ? ` · ${room.member_count} ${room.member_count === 1 ? 'member' : 'members'}` : null,
  );
}

function roomSide(room, now) {
  const activeAt = room.last_active_at ?? room.created_at;
  const expiresSoon = parseDate(room.expires_at).getTime() - now.getTime() < EXPIRY_SOON_MS;
  return h(
    'span',
    { class: 'room-side' },
    h(
      'span',
      { class: `room-expiry${expiresSoon ? ' soon' : ''}`, title: `Expires ${formatFull(parseDate(room.expires_at))}` },
      icon('clock'),
      formatExpiresIn(room.expires_at, now),
    ),
    h('span', { class: 'room-active' }, activeAt === room.created_at ? 'no messages yet' : `active ${formatAgo(activeAt, now)}`),
  );
}
