// The tab title: the routed view names the page ("#general · confab"), and the
// rooms store says how many messages the user has not read over all their
// rooms, shown in front as "(3) ". Both write through here, so neither undoes
// the other.

let base = 'confab';
let unread = 0;

function render() {
  document.title = unread > 0 ? `(${unread}) ${base}` : base;
}

/** The page's own title, e.g. "Rooms · confab". */
export function setTitle(title) {
  base = title;
  render();
}

/** The number of unread messages over all the user's rooms (0 when signed out). */
export function setUnreadTotal(total) {
  if (total === unread) return;
  unread = total;
  render();
}
