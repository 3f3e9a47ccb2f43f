// The replay cursor of one room: the highest change number this view has seen.
//
// Every message and every change (edit, deletion, reaction) takes the next
// number of one per-room sequence; a Message's `seq` is the number of its
// latest state and its id is the number it was sent with. Rejoining with
// `after` = this cursor makes the server send what is new and what changed
// since, so the view ends with the server's state without refetching the room.
//
// Only what reaches the view as "current" may move the cursor: the newest REST
// page before the first join, and WebSocket frames. Older pages fetched while
// scrolling up must not: they can carry a later `seq` than live frames this view
// has not received yet (e.g. while disconnected), and skipping past those would
// lose them.

/** Orders two sequence numbers (16 hex digits, like ids; a longer string is a later one). */
export function compareSeq(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : 1;
}

/** The number of a message's latest state: its `seq`, or its id from a server that sends none. */
export function stateOf(message) {
  return compareSeq(message.seq, message.id) > 0 ? message.seq : message.id;
}

export class ReplayCursor {
  #value;
  #replaying = false;

  /** The cursor for `join`'s `after`, or undefined before anything was seen. */
  get value() {
    return this.#value;
  }

  /**
   * A join's backlog starts. Its frames do not move the cursor: changed older
   * messages come first with high numbers, so a replay cut short would
   * otherwise leave the cursor past messages not sent yet.
   */
  replayStarts() {
    this.#replaying = true;
  }

  /**
   * The server's `replay_done`: everything up to `cursor` has been sent, and
   * live frames follow in sequence order. Taken as is, not as a maximum: a
   * page read over REST may show a change whose live frame has not come yet.
   */
  replayDone(cursor) {
    this.#replaying = false;
    if (typeof cursor === 'string') this.#value = cursor;
  }

  /** Takes a message (from a live frame or the newest page) into account. */
  see(message) {
    if (this.#replaying) return;
    const state = stateOf(message);
    if (compareSeq(state, this.#value) > 0) this.#value = state;
  }
}
