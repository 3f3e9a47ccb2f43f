// Which usernames are bots, for the small "bot" badge next to their names in
// messages and member lists. Filled once per session from GET /api/bots and
// from member lists (each member has `is_bot`), so a bot made later gets its
// badge once a room it is in loads its members.

import { h } from './dom.js';

const names = new Set();

/** Dispatches 'change' when a bot becomes known. */
export const knownBots = new EventTarget();

export function isBot(username) {
  return names.has(username);
}

/** Remembers the bots among `users` (`[{ username, is_bot }]`). */
export function rememberBots(users) {
  let added = false;
  for (const user of users) {
    if (user.is_bot && !names.has(user.username)) {
      names.add(user.username);
      added = true;
    }
  }
  if (added) knownBots.dispatchEvent(new Event('change'));
}

/** Loads every bot of the server; a failure only means fewer badges. */
export async function loadBots(api) {
  try {
    rememberBots(await api.listBots());
  } catch {
    // Badges are a hint: the chat works without them.
  }
}

/** Forgets everything (at sign-out). */
export function forgetBots() {
  names.clear();
}

/** The badge shown after a bot's name. */
export function botBadge() {
  return h('span', { class: 'tag tag-bot', title: 'Bot: an automated account' }, 'bot');
}
