// The emoji the reaction picker offers, with names to search by. A short list
// of the reactions people actually use in team chat, most common first; the
// server accepts any single emoji, this is only what the picker shows.

/** [emoji, name, other words it is found by] */
const TABLE = [
  ['👍', 'thumbs up', 'yes ok agree like approve +1'],
  ['👎', 'thumbs down', 'no disagree dislike -1'],
  ['❤️', 'red heart', 'love like'],
  ['😂', 'tears of joy', 'laugh lol funny'],
  ['🎉', 'party popper', 'tada celebrate congratulations hooray'],
  ['🙏', 'folded hands', 'thanks please pray'],
  ['👀', 'eyes', 'looking watching seen'],
  ['✅', 'check mark', 'done yes complete tick'],
  ['🔥', 'fire', 'hot lit'],
  ['🚀', 'rocket', 'ship launch deploy fast'],
  ['😄', 'grinning face', 'smile happy'],
  ['🙂', 'slightly smiling face', 'smile'],
  ['😊', 'smiling face', 'blush happy'],
  ['😉', 'winking face', 'wink'],
  ['😅', 'sweat smile', 'phew relief nervous'],
  ['🤣', 'rolling on the floor laughing', 'rofl laugh lol'],
  ['😍', 'heart eyes', 'love'],
  ['😎', 'sunglasses', 'cool'],
  ['🤔', 'thinking face', 'hmm think wonder'],
  ['😮', 'open mouth', 'wow surprised'],
  ['🤯', 'exploding head', 'mind blown shocked'],
  ['😬', 'grimacing face', 'awkward oops'],
  ['😢', 'crying face', 'sad tear'],
  ['😡', 'angry face', 'mad rage'],
  ['😴', 'sleeping face', 'tired sleep zzz'],
  ['🥳', 'partying face', 'celebrate birthday'],
  ['🙈', 'see no evil monkey', 'oops embarrassed'],
  ['🤷', 'shrug', 'dunno whatever'],
  ['👏', 'clapping hands', 'applause bravo'],
  ['🙌', 'raising hands', 'hooray celebrate yay'],
  ['👋', 'waving hand', 'hello hi bye wave'],
  ['👌', 'ok hand', 'okay perfect'],
  ['💪', 'flexed biceps', 'strong muscle'],
  ['🤝', 'handshake', 'deal agreement'],
  ['💯', 'hundred points', '100 perfect'],
  ['✨', 'sparkles', 'shiny new magic'],
  ['⭐', 'star', 'favourite favorite'],
  ['💡', 'light bulb', 'idea'],
  ['⚠️', 'warning', 'caution careful'],
  ['❌', 'cross mark', 'no wrong x'],
  ['➕', 'plus', 'add +1 me too'],
  ['❓', 'question mark', 'question what'],
  ['🐛', 'bug', 'issue defect'],
  ['📌', 'pushpin', 'pin important'],
  ['☕', 'hot beverage', 'coffee tea break'],
  ['🍕', 'pizza', 'food lunch'],
  ['🎂', 'birthday cake', 'birthday'],
].map(([emoji, name, words]) => ({ emoji, name, words: `${name} ${words}`.toLowerCase().split(/\s+/) }));

/** Every emoji the picker offers: `{ emoji, name }`, most common first. */
export const COMMON_EMOJI = TABLE.map(({ emoji, name }) => ({ emoji, name }));

/**
 * The emoji whose name or words match `query`: every word of the query must
 * start one of the emoji's words ("thumb up" finds "thumbs up"). An empty
 * query matches everything; an emoji typed into the box matches itself.
 */
export function searchEmoji(query) {
  const wanted = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (wanted.length === 0) return COMMON_EMOJI;
  return TABLE.filter(
    (entry) => wanted.join(' ') === entry.emoji || wanted.every((w) => entry.words.some((word) => word.startsWith(w))),
  ).map(({ emoji, name }) => ({ emoji, name }));
}

/** The name of an emoji, when the table knows it. */
export function emojiName(emoji) {
  return TABLE.find((entry) => entry.emoji === emoji)?.name;
}
