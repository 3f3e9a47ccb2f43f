// Formatting of dates, durations and message text. Dates come from the server
// as RFC 3339 UTC strings and are shown in the viewer's own time zone and locale.

import { h } from './dom.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const dayYearFmt = new Intl.DateTimeFormat(undefined, {
  weekday: 'long',
  month: 'long',
  day: 'numeric',
  year: 'numeric',
});
const shortDayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const shortDayYearFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

export function parseDate(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? new Date(0) : date;
}

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** Whole local days between two dates (0 = same local day, 1 = `date` was yesterday). */
function daysAgo(date, now) {
  return Math.round((startOfDay(now) - startOfDay(date)) / DAY);
}

/** "14:32" (or "2:32 PM") in the viewer's locale. */
export function formatTime(date) {
  return timeFmt.format(date);
}

/** The time without AM/PM ("2:32"), for the narrow gutter beside follow-up messages. */
export function formatCompactTime(date) {
  return timeFmt
    .formatToParts(date)
    .filter((part) => part.type !== 'dayPeriod')
    .map((part) => part.value)
    .join('')
    .trim();
}

/** "Today at 14:32", "Yesterday at 09:10", "Nov 24 at 14:32" (year added when not this year). */
export function formatMessageTime(date, now = new Date()) {
  const ago = daysAgo(date, now);
  let day;
  if (ago === 0) day = 'Today';
  else if (ago === 1) day = 'Yesterday';
  else if (date.getFullYear() === now.getFullYear()) day = shortDayFmt.format(date);
  else day = shortDayYearFmt.format(date);
  return `${day} at ${formatTime(date)}`;
}

/** Heading for the divider between days: "Today", "Yesterday", "Monday, November 24". */
export function formatDay(date, now = new Date()) {
  const ago = daysAgo(date, now);
  if (ago === 0) return 'Today';
  if (ago === 1) return 'Yesterday';
  return (date.getFullYear() === now.getFullYear() ? dayFmt : dayYearFmt).format(date);
}

/** Full local date, time and zone, for tooltips. */
export function formatFull(date) {
  return fullFmt.format(date);
}

export function sameLocalDay(a, b) {
  return startOfDay(a) === startOfDay(b);
}

/** A coarse duration in words: "3 days", "5 hours", "12 minutes", "less than a minute". */
export function formatDuration(ms) {
  const abs = Math.abs(ms);
  const plural = (n, unit) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  // Whole days and hours round to the nearest: a 7-day room created a minute
  // ago "expires in 7 days", not 6.
  if (abs >= 2 * DAY) return plural(Math.round(abs / DAY), 'day');
  if (abs >= DAY) {
    const hours = Math.floor((abs - DAY) / HOUR);
    return hours ? `1 day ${plural(hours, 'hour')}` : '1 day';
  }
  if (abs >= 2 * HOUR) return plural(Math.round(abs / HOUR), 'hour');
  if (abs >= HOUR) {
    const minutes = Math.floor((abs - HOUR) / MINUTE);
    return minutes ? `1 hour ${plural(minutes, 'minute')}` : '1 hour';
  }
  if (abs >= MINUTE) return plural(Math.floor(abs / MINUTE), 'minute');
  return 'less than a minute';
}

/** "expires in 6 days", or "expired" once the time has passed. */
export function formatExpiresIn(expiresAt, now = new Date()) {
  const left = parseDate(expiresAt).getTime() - now.getTime();
  return left <= 0 ? 'expired' : `expires in ${formatDuration(left)}`;
}

const SIZE_UNITS = ['KB', 'MB', 'GB', 'TB'];

/** A file size for people: "512 B", "14 KB", "3.4 MB" (units of 1024, one decimal below 10). */
export function formatSize(bytes) {
  let value = Number(bytes) || 0;
  if (value < 1024) return `${value} B`;
  let unit = -1;
  do {
    value /= 1024;
    unit += 1;
  } while (value >= 1024 && unit < SIZE_UNITS.length - 1);
  const shown = value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value));
  return `${shown} ${SIZE_UNITS[unit]}`;
}

/** "2 hours ago", "just now". */
export function formatAgo(value, now = new Date()) {
  const ms = now.getTime() - parseDate(value).getTime();
  if (ms < MINUTE) return 'just now';
  return `${formatDuration(ms)} ago`;
}

// http(s) URLs only: other schemes (javascript:, data:) stay plain text.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that usually ends the sentence rather than the URL.
const TRAILING = /[.,;:!?)\]}'"]+$/;

/**
 * Splits message text into text nodes and links. Returns DOM nodes; the text
 * itself is never parsed as HTML, so `<img onerror=...>` stays literal text.
 */
export function linkify(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    const trailing = url.match(TRAILING);
    if (trailing) {
      // Keep a closing paren that balances an opening one inside the URL (wiki links).
      let cut = trailing[0];
      if (cut.startsWith(')') && url.includes('(')) cut = cut.slice(1);
      url = url.slice(0, url.length - cut.length);
    }
    if (!isHttpUrl(url)) continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url));
    last = match.index + url.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function isHttpUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
