// The `xss` scenario of e2e.mjs (issue 12): the server's whole XSS corpus
// (`confab::chat::markdown::XSS_CORPUS`: OWASP filter-evasion vectors and
// Markdown's own ways in), handed over by tests/browser.rs as a JSON array in
// the file named by E2E_XSS_CORPUS, is posted to a room and displayed in the
// real UI. No script may run and no request may leave the page.
//
// - pia posts every body (a few from the composer, the rest over REST) in a
//   normal context: the CSP is on there, and a violation counts as a problem.
// - quinn reads them in a context with `bypassCSP: true`, so the CSP cannot
//   hide a sanitizer miss: only the server's sanitizer and the client's own
//   DOM cleaning stand between a body and the page. Before any page script
//   runs, the script sinks are trapped (alert, confirm, prompt, print, open,
//   eval, Function, string timers, document.write) and record into
//   `window.__xss`; dangerous elements added to the document are recorded too.
// - every request is watched: one to another origin (data: included) fails
//   the test, and so does a same-origin one the app itself would not make
//   (an image, a frame). Navigations away from the app, popups other than
//   those of the clicked links, JS dialogs and page errors fail it as well.
// - quinn scrolls back to the start of the room, hovers every body and
//   clicks every link the sanitizers left (each opens a new tab, which is
//   answered by a route here, so nothing reaches the network).
// - then the server's `html` alone is assigned to `innerHTML` in the live,
//   CSP-less page: the server's sanitizer must hold without the client's.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** What a message body may contain: the sanitizer's allowlist (src/chat/markdown), tag -> attributes. */
const ALLOWED = {
  a: ['href', 'title', 'target', 'rel'],
  blockquote: [],
  br: [],
  code: ['class'],
  del: [],
  em: [],
  hr: [],
  li: [],
  ol: ['start'],
  p: [],
  pre: [],
  strong: [],
  ul: [],
};
const LINK_REL = ['nofollow', 'noopener', 'noreferrer'];
const LINK_SCHEMES = ['http:', 'https:', 'mailto:'];
/** Bodies sent from the composer (the rest go over REST, which is quicker). */
const FROM_COMPOSER = 3;
/** Time for an onerror, onload or a meta refresh to fire. */
const SETTLE_MS = 750;

/**
 * Runs in every frame before the page's own scripts: traps the sinks hostile markup reaches for
 * and records into `window.__xss` instead of running anything.
 */
function installTripwires() {
  const hits = [];
  Object.defineProperty(window, '__xss', { value: hits, configurable: false, writable: false });
  const describe = (args) => args.map((a) => String(a).slice(0, 80)).join(', ');
  const trap = (name) => (...args) => {
    hits.push(`${name}(${describe(args)})`);
    return name === 'prompt' ? null : name === 'confirm' ? false : undefined;
  };
  for (const name of ['alert', 'confirm', 'prompt', 'print', 'open']) {
    Object.defineProperty(window, name, { value: trap(name), configurable: false, writable: false });
  }
  // Playwright's own evaluate calls go through `window.eval` (its UtilityScript and InjectedScript,
  // injected without a URL): let those by.
  const nativeEval = window.eval;
  const trapEval = trap('eval');
  const PLAYWRIGHT = /^\s*at (UtilityScript\.evaluate|InjectedScript\.(eval|extend)) \(<anonymous>:/;
  const evalTrap = (source) => {
    const caller = new Error().stack.split('\n')[2] ?? '';
    return PLAYWRIGHT.test(caller) ? nativeEval(source) : trapEval(source);
  };
  Object.defineProperty(window, 'eval', { value: evalTrap, configurable: false, writable: false });
  window.Function = new Proxy(window.Function, {
    apply(_target, _self, args) {
      trap('Function')(...args);
      return () => {};
    },
    construct(_target, args) {
      trap('new Function')(...args);
      return () => {};
    },
  });
  for (const name of ['setTimeout', 'setInterval']) {
    const native = window[name];
    window[name] = function timer(handler, ...rest) {
      if (typeof handler !== 'function') return trap(`${name} with a string`)(handler);
      return native.call(this, handler, ...rest);
    };
  }
  Document.prototype.write = trap('document.write');
  Document.prototype.writeln = trap('document.writeln');

  // Elements that fetch, frame, run or restyle, added after the app's own page has loaded. The
  // app adds only its logo (an <img> of /favicon.svg) and its <svg class="icon"> icons.
  const DANGEROUS = new Set([
    'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'img', 'image', 'picture', 'video',
    'audio', 'source', 'track', 'base', 'meta', 'link', 'style', 'svg', 'math', 'marquee',
    'isindex', 'details', 'portal', 'applet',
  ]);
  const appOwn = (el) =>
    (el.localName === 'img' && el.getAttribute('src') === '/favicon.svg') ||
    (el.localName === 'svg' && el.classList.contains('icon'));
  let armed = false;
  new MutationObserver((records) => {
    if (!armed) return;
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        for (const el of [node, ...node.querySelectorAll('*')]) {
          if (DANGEROUS.has(el.localName) && !appOwn(el)) hits.push(`<${el.localName}> added: ${el.outerHTML.slice(0, 120)}`);
        }
      }
    }
  }).observe(document, { childList: true, subtree: true });
  document.addEventListener('DOMContentLoaded', () => {
    armed = true;
  });
}

/**
 * Runs in the page: every body matching `selector` with what in it the allowlist does not
 * allow (elements, attributes: so also any on*, style, src, srcdoc or formaction), and its links.
 */
function inspectBodies({ selector, allowed }) {
  const HTML_NS = 'http://www.w3.org/1999/xhtml';
  return [...document.querySelectorAll(selector)].map((root) => {
    const bad = [];
    const links = [];
    for (const el of root.querySelectorAll('*')) {
      const tag = el.localName;
      const attributes = allowed[tag];
      if (el.namespaceURI !== HTML_NS || !attributes) {
        bad.push(`element ${el.outerHTML.slice(0, 100)}`);
        continue;
      }
      for (const { name, value } of el.attributes) {
        if (!attributes.includes(name)) bad.push(`<${tag} ${name}="${value.slice(0, 60)}">`);
      }
      if (tag === 'code' && el.hasAttribute('class') && !/^language-[\w+#.-]{1,32}$/.test(el.className)) {
        bad.push(`<code class="${el.className}">`);
      }
      if (tag === 'a') {
        links.push({ href: el.getAttribute('href'), target: el.getAttribute('target'), rel: el.getAttribute('rel') });
      }
    }
    return { id: root.closest('[data-id]')?.dataset.id ?? null, text: root.textContent, bad, links };
  });
}

/**
 * The first raw HTML tag in a body (`<script`, `<img`, ...) that must show as text, or null:
 * autolinks (`<javascript:…>`) are not tags, and a tag inside a link destination or a code
 * fence's info string is not shown at all.
 */
function rawTagShownAsText(body) {
  const match = /<[a-z][a-z0-9-]*(?=[\s/>])/i.exec(body);
  if (!match) return null;
  const before = body.slice(0, match.index);
  const line = before.slice(before.lastIndexOf('\n') + 1);
  const inDestination = /\]\([^)]*$/.test(before);
  const inInfoString = /^\s*(```|~~~)/.test(line);
  return inDestination || inInfoString ? null : match[0];
}

/** Checks one link the sanitizers kept: an absolute allowed URL, a new tab, no opener or referrer. */
function assertSafeLink(link, where) {
  const context = `${where}: ${JSON.stringify(link)}`;
  assert.match(link.href ?? '', /^(https?:\/\/|mailto:)/i, `absolute http(s) or mailto href in ${context}`);
  assert.ok(LINK_SCHEMES.includes(new URL(link.href).protocol), `allowed scheme in ${context}`);
  assert.equal(link.target, '_blank', `target in ${context}`);
  assert.deepEqual((link.rel ?? '').split(/\s+/).sort(), LINK_REL, `rel in ${context}`);
}

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function xssScenario(browser, t) {
  const { baseUrl, run, step, until, shot } = t;
  const corpusFile = process.env.E2E_XSS_CORPUS;
  assert.ok(corpusFile, 'E2E_XSS_CORPUS names the JSON file with the XSS corpus (set by tests/browser.rs)');
  const corpus = JSON.parse(readFileSync(corpusFile, 'utf8'));
  assert.ok(Array.isArray(corpus) && corpus.length > 0 && corpus.every((b) => typeof b === 'string'), 'a list of bodies');
  const PIA = `pia_${run}`;
  const QUINN = `quinn_${run}`;
  const ROOM = `xss-${run}`;
  const origin = new URL(baseUrl).origin;
  const sameOrigin = (url) => {
    try {
      return new URL(url).origin === origin;
    } catch {
      return false;
    }
  };

  // What must stay empty, and the link clicks that are allowed to open a tab elsewhere.
  const foreign = [];
  const unexpected = [];
  const navigations = [];
  const popups = [];
  const clicking = { active: false, requests: [] };

  const poster = await t.newUser(browser, 'pia');
  // Only the sanitizers protect this page: its CSP is switched off on purpose.
  const reader = await t.newUser(browser, 'quinn', undefined, { bypassCSP: true });

  /** Tripwires, request and navigation watchers for one user's context, before its first page load. */
  const arm = async ({ context, page }, who) => {
    await context.addInitScript(installTripwires);
    // Nothing goes to the network from here: a link's tab gets a stub page, anything else fails.
    await context.route(
      (url) => !sameOrigin(url.href),
      (route) => {
        if (clicking.active && route.request().isNavigationRequest()) {
          return route.fulfill({ status: 200, contentType: 'text/html', body: '<title>stub</title>left confab' });
        }
        return route.abort('blockedbyclient');
      },
    );
    context.on('request', (request) => {
      const url = request.url();
      let frame = null;
      try {
        frame = request.frame();
      } catch {
        // A navigation issued before its frame exists: a new tab's.
      }
      const ownPage = frame?.page() === page;
      if (sameOrigin(url)) {
        const { pathname } = new URL(url);
        const type = request.resourceType();
        const expected =
          (type === 'document' && pathname === '/' && ownPage && frame.parentFrame() === null) ||
          (type === 'script' && pathname.startsWith('/js/')) ||
          (type === 'stylesheet' && pathname.startsWith('/css/')) ||
          (['image', 'other'].includes(type) && pathname === '/favicon.svg') || // the logo; the tab's icon
          (['fetch', 'xhr'].includes(type) && pathname.startsWith('/api/'));
        if (!expected) unexpected.push(`${who}: ${type} ${url}`);
      } else if (clicking.active && !ownPage && request.isNavigationRequest()) {
        clicking.requests.push({ url, headers: request.allHeaders() });
      } else {
        foreign.push(`${who}: ${request.resourceType()} ${url.slice(0, 160)}`);
      }
    });
    context.on('page', (opened) => {
      if (!clicking.active) popups.push(`${who}: an unexpected new page ${opened.url()}`);
    });
    page.on('websocket', (ws) => {
      if (new URL(ws.url()).host !== new URL(baseUrl).host) foreign.push(`${who}: WebSocket ${ws.url()}`);
    });
    page.on('framenavigated', (frame) => {
      const url = frame.url();
      if (frame !== page.mainFrame()) navigations.push(`${who}: a frame loaded ${url}`);
      else if (url !== 'about:blank' && !sameOrigin(url)) navigations.push(`${who}: the page went to ${url}`);
    });
  };
  await arm(poster, 'pia');
  await arm(reader, 'quinn');

  const { signUp } = t;
  let roomId;
  const openRoom = async (page) => {
    await page.goto(`${baseUrl}/#/room/${encodeURIComponent(roomId)}`);
    await page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
  };
  const rows = (page) => page.locator('.message-list .msg[data-id]');
  const tripped = (page) => page.evaluate(() => [...window.__xss]);
  /** Every message of the room over REST, oldest first. */
  const restMessages = (page) =>
    page.evaluate(async (id) => {
      const all = [];
      for (let before = null; ; ) {
        const query = new URLSearchParams({ limit: '200', ...(before ? { before } : {}) });
        const res = await fetch(`/api/rooms/${encodeURIComponent(id)}/messages?${query}`);
        if (!res.ok) throw new Error(`GET messages: ${res.status}`);
        const { messages } = await res.json();
        all.unshift(...messages);
        if (messages.length < 200) return all;
        before = messages[0].id;
      }
    }, roomId);

  // Filled in by the posting step: the bodies the server took, in order, and which body each row shows.
  let accepted;
  const bodyOf = new Map();

  await step(`pia signs up, creates a room and posts all ${corpus.length} corpus bodies`, async () => {
    await signUp(poster.page, PIA);
    roomId = await poster.page.evaluate(async (name) => {
      const res = await fetch('/api/rooms', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 201) throw new Error(`create room: ${res.status}`);
      return (await res.json()).id;
    }, ROOM);
    await openRoom(poster.page);
    await poster.page.locator('.connection[data-state="open"]').waitFor();
    // The server refuses a NUL in a body (400 invalid_body), so such entries never reach a page.
    const storable = corpus.filter((body) => !body.includes('\0'));
    const viaComposer = new Set(
      corpus.flatMap((body, i) => (body.includes('\0') ? [] : [i])).slice(0, FROM_COMPOSER),
    );
    const box = poster.page.getByRole('textbox', { name: `Message #${ROOM}` });
    for (const i of viaComposer) {
      const body = corpus[i];
      await box.fill(body);
      await box.press('Enter');
      await until('the composer to clear', async () => (await box.inputValue()) === '');
      await poster.page.locator('.msg.pending').waitFor({ state: 'detached' });
    }
    const statuses = await poster.page.evaluate(
      async ({ id, bodies }) => {
        const out = [];
        for (const body of bodies) {
          const res = await fetch(`/api/rooms/${encodeURIComponent(id)}/messages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ body }),
          });
          out.push({ body, status: res.status, code: res.ok ? null : (await res.json()).error?.code });
        }
        return out;
      },
      { id: roomId, bodies: corpus.filter((_, i) => !viaComposer.has(i)) },
    );
    const refused = statuses.filter((s) => s.status !== 201);
    assert.deepEqual(
      refused.map((s) => `${s.status} ${s.code} ${JSON.stringify(s.body)}`),
      corpus.filter((b) => b.includes('\0')).map((b) => `400 invalid_body ${JSON.stringify(b)}`),
      'only bodies with a NUL are refused',
    );
    accepted = storable;
    const stored = await restMessages(poster.page);
    assert.deepEqual(stored.map((m) => m.body), accepted, 'the server stored every other body as sent, in order');
    for (const m of stored) bodyOf.set(m.id, m.body);
    console.log(`     ${corpus.length} corpus bodies, ${accepted.length} stored, ${refused.length} refused (NUL)`);
    await until(`pia to see all ${accepted.length} live`, async () => (await rows(poster.page).count()) === accepted.length);
  });

  await step('quinn signs up; a vector planted by the test is caught, as the CSP is off in his page', async () => {
    await signUp(reader.page, QUINN);
    assert.deepEqual(await tripped(reader.page), [], 'the tripwires are in place and quiet');
    await reader.page.evaluate(() => {
      const probe = document.createElement('div');
      probe.id = 'xss-probe';
      probe.innerHTML = `<img src="/xss-probe.png" onerror="alert('probe')"><img src="http://probe.invalid/p.png">`;
      document.body.append(probe);
    });
    const isProbe = (entry) => /xss-probe|probe\.invalid/.test(entry);
    await until('the planted onerror to call alert', async () => (await tripped(reader.page)).includes('alert(probe)'));
    await until('both image requests to be seen', () => unexpected.some(isProbe) && foreign.some(isProbe));
    const hits = await tripped(reader.page);
    assert.equal(hits.filter((hit) => hit.startsWith('<img> added')).length, 2, `the added images: ${hits}`);
    await reader.page.evaluate(() => {
      document.getElementById('xss-probe').remove();
      window.__xss.splice(0);
    });
    for (const list of [unexpected, foreign]) list.splice(0, list.length, ...list.filter((entry) => !isProbe(entry)));
    assert.deepEqual(t.problems, [], 'the alert was trapped, no dialog opened');
  });

  await step('quinn opens the room and scrolls back to its start', async () => {
    await openRoom(reader.page);
    await rows(reader.page).first().waitFor();
    await until(
      'every message to load, older pages on scrolling up',
      async () => {
        await reader.page.locator('.messages').evaluate((el) => {
          el.scrollTop = 0;
        });
        const start = await reader.page.getByText(`Welcome to #${ROOM}`).isVisible();
        return start && (await rows(reader.page).count()) === accepted.length;
      },
      30_000,
    );
    assert.equal(await rows(reader.page).count(), accepted.length, 'one row per stored body');
    assert.equal(await reader.page.locator('.message-list .msg-body').count(), accepted.length, 'each with a body');
    await t.noDuplicateMessages(reader.page);
    await reader.page.waitForTimeout(SETTLE_MS);
    await shot(reader.page, '70-xss-corpus');
  });

  await step('every body holds only allowlisted markup; raw HTML shows as text', async () => {
    for (const [page, who] of [[reader.page, 'quinn'], [poster.page, 'pia']]) {
      const bodies = await page.evaluate(inspectBodies, { selector: '.message-list .msg-body', allowed: ALLOWED });
      assert.equal(bodies.length, accepted.length, `${who} shows every body`);
      for (const { id, text, bad, links } of bodies) {
        const body = bodyOf.get(id);
        assert.ok(body !== undefined, `row ${id} is one of the corpus bodies`);
        assert.deepEqual(bad, [], `${who}: nothing beyond the allowlist for ${JSON.stringify(body)}`);
        for (const link of links) assertSafeLink(link, `${who}: ${JSON.stringify(body)}`);
        const tag = rawTagShownAsText(body);
        if (tag) assert.ok(text.includes(tag), `${who}: ${JSON.stringify(body)} shows "${tag}" as text, got ${JSON.stringify(text)}`);
      }
    }
  });

  await step('hovering every body runs nothing', async () => {
    for (const body of await reader.page.locator('.message-list .msg-body').all()) await body.hover();
    await reader.page.mouse.move(1, 1);
    await reader.page.waitForTimeout(SETTLE_MS);
    assert.deepEqual(await tripped(reader.page), []);
  });

  await step('every link left opens a new tab, without opener or referrer, to its http(s) address', async () => {
    const links = await reader.page.locator('.message-list .msg-body a').all();
    let clicked = 0;
    for (const link of links) {
      const href = await link.getAttribute('href');
      // mailto: would hand off to a mail program; its attributes were checked above.
      if (!/^https?:/i.test(href)) continue;
      clicking.active = true;
      clicking.requests = [];
      try {
        const popupOpened = reader.page.waitForEvent('popup');
        await link.click();
        const popup = await popupOpened;
        await popup.waitForLoadState('domcontentloaded');
        const resolved = await link.evaluate((a) => a.href);
        assert.equal(popup.url(), resolved, 'the new tab went where the link says');
        assert.equal(await popup.evaluate(() => window.opener), null, 'no window.opener');
        assert.deepEqual(clicking.requests.map((r) => r.url), [resolved], 'one request: the new tab’s');
        assert.equal((await clicking.requests[0].headers).referer, undefined, 'no Referer');
        await popup.close();
      } finally {
        clicking.active = false;
      }
      clicked += 1;
    }
    console.log(`     clicked ${clicked} links (of ${links.length})`);
    assert.ok(clicked > 0, 'the corpus has safe links to follow');
    assert.equal(new URL(reader.page.url()).origin, origin, 'quinn is still in confab');
    await rows(reader.page).first().waitFor();
  });

  await step('the server’s html alone, put into the live page with innerHTML, is just as inert', async () => {
    const stored = await restMessages(reader.page);
    // Test-only: this skips the client's own cleaning (message-html.js) on purpose.
    const rendered = await reader.page.evaluate((messages) => {
      const host = document.createElement('div');
      host.id = 'xss-raw';
      document.body.append(host);
      let count = 0;
      for (const m of messages) {
        if (typeof m.html !== 'string') continue; // plain text: the UI shows the body as text
        const box = document.createElement('div');
        box.className = 'xss-raw';
        box.dataset.id = m.id;
        box.innerHTML = m.html;
        host.append(box);
        count += 1;
      }
      return count;
    }, stored);
    console.log(`     ${rendered} of ${stored.length} messages came with html`);
    await reader.page.waitForTimeout(SETTLE_MS);
    const bodies = await reader.page.evaluate(inspectBodies, { selector: '#xss-raw .xss-raw', allowed: ALLOWED });
    assert.equal(bodies.length, rendered);
    for (const { id, text, bad, links } of bodies) {
      const body = bodyOf.get(id);
      assert.deepEqual(bad, [], `server html of ${JSON.stringify(body)}`);
      for (const link of links) assertSafeLink(link, `server html of ${JSON.stringify(body)}`);
      const tag = rawTagShownAsText(body);
      if (tag) assert.ok(text.includes(tag), `server html of ${JSON.stringify(body)} shows "${tag}" as text`);
    }
    await reader.page.evaluate(() => document.getElementById('xss-raw').remove());
  });

  await step('nothing ran, nothing was fetched, nobody left: no dialog, error, request or navigation', async () => {
    await reader.page.waitForTimeout(SETTLE_MS);
    assert.deepEqual(await tripped(reader.page), [], 'quinn: no trapped sink was called');
    assert.deepEqual(await tripped(poster.page), [], 'pia: no trapped sink was called');
    assert.deepEqual(foreign, [], 'no request to another origin');
    assert.deepEqual(unexpected, [], 'no same-origin request the app would not make (images, frames)');
    assert.deepEqual(navigations, [], 'no frame and no navigation away from confab');
    assert.deepEqual(popups, [], 'no window other than the clicked links’');
    assert.deepEqual(t.problems, [], 'no dialog, page error or CSP violation');
  });

  await poster.context.close();
  await reader.context.close();
}
