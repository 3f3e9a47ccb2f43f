// The `attachments` scenario of e2e.mjs: files in messages, seen by ann (who
// sends them) and ben (who reads them), in one room.
//
// - ann drags a PNG drawn on a canvas over the chat (real dragenter, dragover
//   and drop events carrying a DataTransfer with a File): a drop zone shows
//   while dragging; the dropped file uploads into a chip with the server's
//   thumbnail; Send is enabled with an empty text and sends the id alone.
// - ben sees an <img> preview whose src is the thumbnail URL, with the
//   image's width and height (its box is final before it loads), lazy, and
//   loaded; the view stays at the newest message. Clicking opens the viewer
//   with the full image, its name and a download link; focus moves into it,
//   Escape and a click on the surround close it, focus goes back.
// - ann attaches an HTML file whose script would change the title, write
//   localStorage and alert, through the paperclip's file picker, with text;
//   ben sees a file chip (name as text, size, a download link); the file is
//   served as an attachment with a sandbox CSP and nosniff (also without
//   `?download=true`), and clicking the chip downloads it: no script runs, the
//   chat page stays where it is, no page opens.
// - a pasted image (a File without a name) becomes a chip; its remove button
//   takes it away and gives focus back to the text.
// - a 20 MiB upload (throttled, so it is seen under way) shows progress and
//   is cancelled with its x: the request is aborted, the chip goes, nothing
//   is left to send, and the next message carries no attachment.
// - eleven files at once: ten are taken, a note says one was not; the ten go
//   out in one message and ben sees ten chips.
// - a file over the server's limit fails in its chip with the server's
//   message (413 too_large).
// - after a reload ben sees the same preview and chips (history carries
//   `attachments`); no dialog, page error or CSP violation happened.

import assert from 'node:assert/strict';

/** @param t the harness from e2e.mjs (step, until, shot, newUser, ...) */
export async function attachmentsScenario(browser, t) {
  const { baseUrl, run, step, until, shot, signUp, rest } = t;
  const ANN = `ann_${run}`;
  const BEN = `ben_${run}`;
  const ROOM = `files-${run}`;
  const IMAGE = { name: `sunset-${run}.png`, width: 900, height: 600 };
  // Markup in a name stays text (no `/`: the server keeps what follows the last one).
  const HTML_NAME = `release "notes" <img src=x onerror=alert(1)> ${run}.html`;
  const HTML = [
    '<!doctype html><title>pwned</title>',
    '<script>',
    "document.title = 'pwned'; window.pwned = true;",
    "try { localStorage.setItem('pwned', '1'); } catch (e) {}",
    "try { opener && (opener.document.title = 'pwned'); } catch (e) {}",
    "alert('pwned');",
    '</script>',
  ].join('\n');
  const FILLERS = 30;
  const BIG = 20 * 1024 * 1024;

  const a = await t.newUser(browser, 'ann');
  const b = await t.newUser(browser, 'ben');
  let roomId;
  let image;
  let imageMessage;
  let html;
  let htmlMessage;

  // What ann's page sends over its WebSocket (the `send` frames), and the server's acknowledgements
  // (her copy of each message, carrying the nonce).
  const sentFrames = [];
  const acks = new Map();
  a.page.on('websocket', (ws) => {
    ws.on('framesent', ({ payload }) => {
      if (typeof payload !== 'string' || !payload.includes('"send"')) return;
      const frame = JSON.parse(payload);
      if (frame.type === 'send') sentFrames.push(frame);
    });
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string' || !payload.includes('"nonce"')) return;
      const frame = JSON.parse(payload);
      if (frame.type === 'message' && frame.nonce) acks.set(frame.nonce, frame.message);
    });
  });
  const isUpload = (request) => request.method() === 'POST' && /\/api\/rooms\/[^/]+\/attachments\?/.test(request.url());
  const failedUploads = [];
  a.page.on('requestfailed', (request) => {
    if (isUpload(request)) failedUploads.push(request.failure()?.errorText ?? 'failed');
  });
  // Pages that open in ben's context (a file shown in a new tab would be one).
  const benPages = [];
  b.context.on('page', (page) => benPages.push(page.url()));

  const openRoom = async (page) => {
    await page.goto(`${baseUrl}/#/room/${encodeURIComponent(roomId)}`);
    await page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
  };
  const composer = (page) => page.getByRole('textbox', { name: `Message #${ROOM}` });
  const sendButton = (page) => page.getByRole('button', { name: 'Send message' });
  const chips = (page) => page.locator('.upload-list .upload');
  const chipNamed = (page, name) => chips(page).filter({ has: page.locator('.upload-name', { hasText: name }) });
  const rowOf = (page, id) => page.locator(`.message-list .msg[data-id="${id}"]`);
  const bottomGap = (page) =>
    page.locator('.messages').evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
  /** The newest `send` frame ann's page made, once there is one more than `before`. */
  const nextSend = (before) =>
    until('ann’s page to send the message', async () => sentFrames.length > before && sentFrames.at(-1));
  /** The message the server stored for ann's send with `nonce` (its acknowledgement). */
  const stored = (nonce) => until('the server to acknowledge the message', async () => acks.get(nonce));
  /** The upload answers ann's page gets, in order. */
  const uploads = [];
  a.page.on('response', async (response) => {
    if (!isUpload(response.request())) return;
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON: kept as null.
    }
    uploads.push({ status: response.status(), body });
  });

  /**
   * Dispatches drag events of `types` on the history, with a DataTransfer holding the files an
   * earlier evaluate left in `window.e2eFiles`; returns whether each was accepted (prevented).
   */
  const dragFiles = (page, types) =>
    page.evaluate((types) => {
      const dt = new DataTransfer();
      for (const file of window.e2eFiles) dt.items.add(file);
      const target = document.querySelector('.message-list');
      return types.map((type) => !target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt })));
    }, types);

  await step('ann and ben sign up and open one room with some history', async () => {
    await signUp(a.page, ANN);
    await signUp(b.page, BEN);
    roomId = (await rest(a.page, 'POST', '/api/rooms', { name: ROOM })).id;
    await rest(b.page, 'POST', `/api/rooms/${encodeURIComponent(roomId)}/join`);
    for (let i = 1; i <= FILLERS; i += 1) {
      await rest(a.page, 'POST', `/api/rooms/${encodeURIComponent(roomId)}/messages`, { body: `filler ${i} of ${FILLERS}` });
    }
    await openRoom(a.page);
    await openRoom(b.page);
    for (const page of [a.page, b.page]) {
      await page.locator('.msg-body', { hasText: `filler ${FILLERS} of ${FILLERS}` }).waitFor();
      await page.locator('.connection[data-state="open"]').waitFor();
      // ben opens at the "New messages" divider: he reads down to the newest message first.
      await page.locator('.messages').evaluate((el) => {
        el.scrollTop = el.scrollHeight;
      });
      await until('the view to reach the newest message', async () => (await bottomGap(page)) < 5);
    }
    await b.page.locator('.members-panel .member-name', { hasText: ANN }).waitFor();
  });

  await step('ann drags an image over the chat: a drop zone shows; dropped, it uploads into a chip', async () => {
    await a.page.evaluate(async ({ name, width, height }) => {
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      const sky = ctx.createLinearGradient(0, 0, 0, height);
      sky.addColorStop(0, '#1e3a8a');
      sky.addColorStop(1, '#f97316');
      ctx.fillStyle = sky;
      ctx.fillRect(0, 0, width, height);
      ctx.fillStyle = '#fde047';
      ctx.beginPath();
      ctx.arc(width / 2, height * 0.7, height / 6, 0, Math.PI * 2);
      ctx.fill();
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
      window.e2eFiles = [new File([blob], name, { type: 'image/png' })];
    }, IMAGE);
    const zone = a.page.locator('.drop-zone');
    assert.equal(await zone.isVisible(), false, 'no drop zone before a drag');
    const accepted = await dragFiles(a.page, ['dragenter', 'dragover']);
    assert.deepEqual(accepted, [true, true], 'the chat accepts a drag of files (dragenter and dragover prevented)');
    await zone.waitFor();
    assert.equal((await zone.innerText()).trim(), `Drop files to share them in #${ROOM}`);
    await shot(a.page, '90-attachments-drop-zone');
    const before = uploads.length;
    const [dropped] = await dragFiles(a.page, ['drop']);
    assert.ok(dropped, 'the drop is taken by the page (no navigation to the file)');
    await zone.waitFor({ state: 'hidden' });
    const chip = chipNamed(a.page, IMAGE.name);
    await chip.waitFor();
    await until('the upload to finish', async () => (await chip.getAttribute('data-state')) === 'done');
    await until('the upload’s answer', async () => uploads.length > before);
    assert.equal(uploads.length, before + 1, 'one upload');
    assert.equal(uploads.at(-1).status, 201);
    image = uploads.at(-1).body;
    assert.equal(image.name, IMAGE.name);
    assert.equal(image.content_type, 'image/png');
    assert.deepEqual([image.width, image.height], [IMAGE.width, IMAGE.height], 'the server read the size');
    assert.match(image.thumbnail ?? '', /^\/api\/attachments\/.+\/thumbnail$/, 'the server made a thumbnail');
    const thumb = chip.locator('.upload-preview img');
    assert.equal(await thumb.getAttribute('src'), image.thumbnail, 'the chip shows the server’s thumbnail');
    await until('the chip’s thumbnail to load', async () => thumb.evaluate((img) => img.complete && img.naturalWidth > 0));
    assert.match(await chip.innerText(), /\d+(\.\d)? (B|KB|MB)/, 'the chip shows the size');
    assert.equal(await composer(a.page).inputValue(), '', 'no text typed');
    assert.ok(await sendButton(a.page).isEnabled(), 'Send is enabled with an attachment and no text');
    await chip.getByRole('button', { name: `Remove ${IMAGE.name}` }).waitFor();
    await shot(a.page, '91-attachments-chip');
    await t.assertControlsNamed(a.page, 'chat with an attachment chip');
  });

  await step('ann sends the image alone; ben sees a sized, lazy preview of the thumbnail and stays at the bottom', async () => {
    const before = sentFrames.length;
    await sendButton(a.page).click();
    const frame = await nextSend(before);
    assert.deepEqual(frame.attachments, [image.id], 'the send frame carries the attachment id');
    assert.equal(frame.body, '', 'and no text');
    await chips(a.page).first().waitFor({ state: 'detached' });
    assert.ok(await sendButton(a.page).isDisabled(), 'nothing left to send');
    const message = await stored(frame.nonce);
    assert.deepEqual(message.attachments, [image], 'the message carries the attachment as uploaded');
    imageMessage = message.id;

    for (const [page, who] of [[b.page, 'ben'], [a.page, 'ann']]) {
      const img = rowOf(page, imageMessage).locator('a.att-image img');
      await img.waitFor();
      assert.equal(await img.getAttribute('src'), image.thumbnail, `${who}: the preview is the thumbnail`);
      assert.equal(await img.getAttribute('alt'), IMAGE.name, `${who}: its alt text is the name`);
      assert.equal(await img.getAttribute('width'), String(IMAGE.width));
      assert.equal(await img.getAttribute('height'), String(IMAGE.height));
      assert.equal(await img.getAttribute('loading'), 'lazy');
      await until(`${who}: the preview to load`, async () => img.evaluate((el) => el.complete && el.naturalWidth > 0));
      const box = await img.boundingBox();
      assert.ok(box.width > 50, `${who}: the preview has a size (${box.width}px)`);
      assert.ok(
        Math.abs(box.height - (box.width * IMAGE.height) / IMAGE.width) < 2,
        `${who}: the preview keeps the image’s proportions (${box.width}x${box.height})`,
      );
      await until(`${who}: the view to sit at the newest message`, async () => (await bottomGap(page)) < 5);
    }
    const link = rowOf(b.page, imageMessage).locator('a.att-image');
    assert.equal(await link.getAttribute('href'), `/api/attachments/${encodeURIComponent(image.id)}`);
    const thumb = await b.page.evaluate(async (url) => {
      const res = await fetch(url);
      return { status: res.status, type: res.headers.get('Content-Type') };
    }, image.thumbnail);
    assert.equal(thumb.status, 200);
    assert.match(thumb.type ?? '', /^image\/jpeg/, 'the thumbnail is a JPEG');
    await shot(b.page, '92-attachments-image');
  });

  await step('ben opens the image in the viewer; Escape and a click on the surround close it', async () => {
    const link = rowOf(b.page, imageMessage).locator('a.att-image');
    await link.click();
    const viewer = b.page.getByRole('dialog', { name: IMAGE.name });
    await viewer.waitFor();
    const full = viewer.locator('img.viewer-img');
    assert.equal(await full.getAttribute('src'), `/api/attachments/${encodeURIComponent(image.id)}`, 'the full image');
    await until('the full image to load', async () =>
      full.evaluate((el, width) => el.complete && el.naturalWidth === width, IMAGE.width),
    );
    const download = viewer.getByRole('link', { name: 'Download' });
    assert.equal(await download.getAttribute('href'), `/api/attachments/${encodeURIComponent(image.id)}?download=true`);
    assert.equal(await download.getAttribute('download'), IMAGE.name);
    assert.ok(await viewer.getByText(/\d+(\.\d)? (B|KB|MB)/).isVisible(), 'the size is shown');
    assert.ok(
      await viewer.evaluate((dialog) => dialog.open && dialog.contains(document.activeElement)),
      'focus is in the viewer',
    );
    assert.equal(await b.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Close image');
    await shot(b.page, '93-attachments-viewer');
    await b.page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });
    assert.ok(await link.evaluate((el) => el === document.activeElement), 'focus is back on the preview');
    assert.equal(new URL(b.page.url()).hash, `#/room/${encodeURIComponent(roomId)}`, 'still in the room');

    await link.click();
    await viewer.waitFor();
    const stage = await viewer.locator('.viewer-stage').boundingBox();
    const img = await full.boundingBox();
    // A point of the surround: below the image, or left of it.
    const x = stage.x + 4;
    const y = img.y + img.height + 4 < stage.y + stage.height ? img.y + img.height + 4 : stage.y + stage.height - 4;
    await b.page.mouse.click(x, y);
    await viewer.waitFor({ state: 'detached' });
  });

  await step('ann attaches an HTML file with the paperclip and writes a line with it', async () => {
    const [chooser] = await Promise.all([
      a.page.waitForEvent('filechooser'),
      a.page.getByRole('button', { name: 'Attach files' }).click(),
    ]);
    assert.ok(chooser.isMultiple(), 'the picker takes several files');
    const before = uploads.length;
    await chooser.setFiles({ name: HTML_NAME, mimeType: 'text/html', buffer: Buffer.from(HTML) });
    await until('the HTML upload to finish', async () => uploads.length > before && uploads.at(-1));
    assert.equal(uploads.at(-1).status, 201, `upload answer: ${JSON.stringify(uploads.at(-1).body)}`);
    html = uploads.at(-1).body;
    assert.equal(html.name, HTML_NAME, 'the name as given');
    assert.equal(html.thumbnail, undefined, 'no thumbnail for HTML');
    const chip = chipNamed(a.page, html.name);
    await until('the chip to finish', async () => (await chip.getAttribute('data-state')) === 'done');
    assert.equal(await chip.locator('img').count(), 0, 'the name is text in the chip');
    const sent = sentFrames.length;
    await composer(a.page).fill('Here are the notes');
    await composer(a.page).press('Enter');
    const frame = await nextSend(sent);
    assert.deepEqual(frame.attachments, [html.id]);
    assert.equal(frame.body, 'Here are the notes');
    const message = await stored(frame.nonce);
    assert.equal(message.body, 'Here are the notes');
    assert.deepEqual(message.attachments, [html], 'the message carries the attachment as uploaded');
    htmlMessage = message.id;
  });

  await step('ben sees a file chip; the file is served as a sandboxed download and clicking it runs nothing', async () => {
    const row = rowOf(b.page, htmlMessage);
    await row.locator('.msg-body', { hasText: 'Here are the notes' }).waitFor();
    const chip = row.locator('a.att-file');
    await chip.waitFor();
    assert.equal(await chip.locator('.att-file-name').textContent(), html.name, 'the name, as text');
    assert.equal(await row.locator('img').count(), 0, 'no markup from the name, and no preview for HTML');
    assert.match(await chip.locator('.att-file-size').textContent(), /^\d+ B$/);
    const href = await chip.getAttribute('href');
    assert.equal(href, `/api/attachments/${encodeURIComponent(html.id)}?download=true`);
    assert.equal(await chip.getAttribute('download'), html.name);

    const headersOf = (url) =>
      b.page.evaluate(async (url) => {
        const res = await fetch(url);
        return {
          status: res.status,
          disposition: res.headers.get('Content-Disposition'),
          csp: res.headers.get('Content-Security-Policy'),
          nosniff: res.headers.get('X-Content-Type-Options'),
          body: await res.text(),
        };
      }, url);
    for (const url of [href, `/api/attachments/${encodeURIComponent(html.id)}`]) {
      const got = await headersOf(url);
      assert.equal(got.status, 200, url);
      assert.match(got.disposition ?? '', /^attachment\b/i, `${url}: Content-Disposition`);
      assert.match(got.csp ?? '', /\bsandbox\b/, `${url}: Content-Security-Policy`);
      assert.equal((got.nosniff ?? '').toLowerCase(), 'nosniff', `${url}: X-Content-Type-Options`);
      assert.equal(got.body, HTML, `${url}: the bytes as uploaded`);
    }

    const title = await b.page.title();
    const url = b.page.url();
    const [download] = await Promise.all([b.page.waitForEvent('download'), chip.click()]);
    assert.ok(download.url().endsWith(href), `the download is the file (${download.url()})`);
    assert.ok(download.suggestedFilename().endsWith('.html'), `saved as ${download.suggestedFilename()}`);
    await download.cancel();
    await b.page.waitForTimeout(500); // a script would have run by now
    assert.equal(await b.page.title(), title, 'the title is unchanged');
    assert.equal(b.page.url(), url, 'the chat page did not navigate');
    assert.deepEqual(
      await b.page.evaluate(() => [window.pwned ?? null, localStorage.getItem('pwned')]),
      [null, null],
      'the file’s script did not run on this origin',
    );
    assert.deepEqual(benPages, [], 'no page opened');
    assert.ok(await row.isVisible(), 'the chat is still there');
    await shot(b.page, '94-attachments-file-chip');
  });

  await step('a pasted image becomes a chip; removing it gives focus back to the text', async () => {
    const before = uploads.length;
    const box = composer(a.page);
    await box.focus();
    const taken = await box.evaluate(async (input) => {
      const canvas = document.createElement('canvas');
      canvas.width = 120;
      canvas.height = 80;
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#16a34a';
      ctx.fillRect(0, 0, 120, 80);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
      const dt = new DataTransfer();
      dt.items.add(new File([blob], '', { type: 'image/png' })); // a screenshot has no name
      const event = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
      return !input.dispatchEvent(event);
    });
    assert.ok(taken, 'the paste of an image was taken by the composer');
    assert.equal(await box.inputValue(), '', 'nothing was pasted as text');
    const chip = chipNamed(a.page, 'pasted-image.png');
    await chip.waitFor();
    await until('the pasted image to upload', async () => (await chip.getAttribute('data-state')) === 'done');
    await until('the upload’s answer', async () => uploads.length > before);
    assert.equal(uploads.length, before + 1);
    assert.equal(uploads.at(-1).body.name, 'pasted-image.png');
    await chip.getByRole('button', { name: 'Remove pasted-image.png' }).click();
    await chip.waitFor({ state: 'detached' });
    assert.ok(await box.evaluate((el) => el === document.activeElement), 'focus is back in the composer');
    assert.ok(await sendButton(a.page).isDisabled(), 'nothing to send');
  });

  await step('a 20 MiB upload shows its progress and is cancelled with its x: nothing is sent', async () => {
    const cdp = await a.context.newCDPSession(a.page);
    await cdp.send('Network.enable');
    // Slow uploads down so the transfer is seen under way (a loopback upload takes milliseconds).
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 1024 * 1024,
    });
    try {
      const failedBefore = failedUploads.length;
      const uploadsBefore = uploads.length;
      // Through the picker's <input>, as a browser sets it.
      await a.page.evaluate((size) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(size)], 'zeros.bin', { type: 'application/octet-stream' }));
        const input = document.querySelector('.composer input[type="file"]');
        input.files = dt.files;
        input.dispatchEvent(new Event('change', { bubbles: true }));
      }, BIG);
      const chip = chipNamed(a.page, 'zeros.bin');
      await chip.waitFor();
      assert.equal(await chip.getAttribute('data-state'), 'uploading');
      const progress = chip.getByRole('progressbar', { name: 'Uploading zeros.bin' });
      await until('upload progress to show', async () =>
        progress.evaluate((el) => el.value > 0 && el.value < el.max && el.max >= 20 * 1024 * 1024),
      );
      assert.match(await chip.locator('.upload-meta').innerText(), /^[\d.]+ (B|KB|MB) of 20 MB$/);
      assert.ok(await sendButton(a.page).isDisabled(), 'Send waits for the upload');
      await shot(a.page, '95-attachments-uploading');
      await chip.getByRole('button', { name: 'Cancel upload of zeros.bin' }).click();
      await chip.waitFor({ state: 'detached' });
      await until('the upload request to be aborted', async () => failedUploads.length > failedBefore);
      assert.match(failedUploads.at(-1), /ABORTED/i);
      assert.equal(uploads.length, uploadsBefore, 'no answer to the cancelled upload');
      assert.equal(await chips(a.page).count(), 0, 'no chip left');
      assert.ok(await sendButton(a.page).isDisabled(), 'nothing to send');
    } finally {
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: -1,
      });
      await cdp.detach();
    }
    const sent = sentFrames.length;
    await composer(a.page).fill('nothing attached after the cancel');
    await composer(a.page).press('Enter');
    const frame = await nextSend(sent);
    assert.equal(frame.attachments, undefined, 'the send carries no attachments');
    const { id } = await stored(frame.nonce);
    const row = rowOf(b.page, id);
    await row.locator('.msg-body', { hasText: 'nothing attached after the cancel' }).waitFor();
    assert.equal(await row.locator('.msg-attachments').count(), 0, 'ben sees no attachment');
    const newest = (await rest(b.page, 'GET', `/api/rooms/${encodeURIComponent(roomId)}/messages?limit=1`)).messages[0];
    assert.equal(newest.id, id);
    assert.equal(newest.attachments, undefined, 'the stored message has none');
  });

  await step('eleven files at once: ten are taken with a note, and go out in one message', async () => {
    const files = Array.from({ length: 11 }, (_, i) => ({
      name: `part-${String(i + 1).padStart(2, '0')}.txt`,
      mimeType: 'text/plain',
      buffer: Buffer.from(`part ${i + 1}\n`),
    }));
    const [chooser] = await Promise.all([
      a.page.waitForEvent('filechooser'),
      a.page.getByRole('button', { name: 'Attach files' }).click(),
    ]);
    await chooser.setFiles(files);
    const note = a.page.locator('.upload-note');
    await note.waitFor();
    assert.equal(await note.innerText(), 'A message can carry up to 10 files: 1 file was not added.');
    assert.equal(await chips(a.page).count(), 10, 'ten chips');
    assert.equal(await chipNamed(a.page, 'part-11.txt').count(), 0, 'the eleventh was left out');
    await until('the ten uploads to finish', async () =>
      chips(a.page).evaluateAll((els) => els.every((el) => el.dataset.state === 'done')),
    );
    await shot(a.page, '96-attachments-ten');
    const sent = sentFrames.length;
    await sendButton(a.page).click();
    const frame = await nextSend(sent);
    assert.equal(frame.attachments.length, 10);
    const { id } = await stored(frame.nonce);
    const names = rowOf(b.page, id).locator('.att-file-name');
    await until('ben to see ten chips', async () => (await names.count()) === 10);
    assert.deepEqual(await names.allTextContents(), files.slice(0, 10).map((f) => f.name), 'in the order chosen');
  });

  await step('a file over the server’s limit fails in its chip with the server’s message', async () => {
    const before = uploads.length;
    await a.page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(26 * 1024 * 1024)], 'huge.bin', { type: 'application/octet-stream' }));
      const input = document.querySelector('.composer input[type="file"]');
      input.files = dt.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    const chip = chipNamed(a.page, 'huge.bin');
    await until('the upload to fail', async () => (await chip.getAttribute('data-state')) === 'failed', 20_000);
    await until('the server’s answer', async () => uploads.length > before);
    assert.equal(uploads.at(-1).status, 413);
    // Playwright cannot read the body of an answer that came while the upload was still being
    // sent: the same upload made with fetch says what the server says.
    const refusal = await a.page.evaluate(async (url) => {
      const res = await fetch(url, { method: 'POST', body: new Uint8Array(26 * 1024 * 1024) });
      return { status: res.status, body: await res.json() };
    }, `/api/rooms/${encodeURIComponent(roomId)}/attachments?name=huge.bin`);
    assert.equal(refusal.status, 413);
    assert.equal(refusal.body.error.code, 'too_large');
    assert.equal(
      (await chip.locator('.upload-meta').innerText()).trim(),
      `Not uploaded: ${refusal.body.error.message}`,
      'the chip says why, in the server’s words',
    );
    assert.ok(await sendButton(a.page).isDisabled(), 'a failed upload is nothing to send');
    await shot(a.page, '97-attachments-too-large');
    await chip.getByRole('button', { name: 'Remove huge.bin' }).click();
    await chip.waitFor({ state: 'detached' });
  });

  await step('after a reload ben sees the same preview and chips; nothing went wrong', async () => {
    await b.page.reload();
    await b.page.getByRole('heading', { name: ROOM, level: 1 }).waitFor();
    await until('the reloaded view to sit at the bottom', async () => (await bottomGap(b.page)) < 5);
    assert.equal(await rowOf(b.page, htmlMessage).locator('.att-file-name').textContent(), html.name);
    const img = rowOf(b.page, imageMessage).locator('a.att-image img');
    assert.equal(await img.getAttribute('src'), image.thumbnail);
    // Lazy: it loads once scrolled into view.
    await img.scrollIntoViewIfNeeded();
    await until('the preview to load', async () => img.evaluate((el) => el.complete && el.naturalWidth > 0));
    assert.deepEqual(t.problems, [], 'no dialogs, page errors or CSP violations');
  });

  await a.context.close();
  await b.context.close();
}
