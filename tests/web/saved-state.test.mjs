// The domain page's saved state in a real headless Chromium (playwright-core): Snapshot (the
// name asked for in a prompt), the list with its time, size and contents, Clone from a
// snapshot, Revert, Save (the domain ends shutoff/saved), Start afresh, and Delete with its
// confirmation. Fails on any error in the page's console.
//
// usage: node saved-state.test.mjs URL TOKEN DOMAIN ARTIFACT_DIR
// (tests/web/test_saved_state.py starts hvd with a running counter domain and runs this.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [url, token, domain, artifacts] = process.argv.slice(2);
const TIMEOUT = 15000;
fs.mkdirSync(artifacts, {recursive: true});

async function until(what, fn) {
    const deadline = Date.now() + TIMEOUT;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last)
                return last;
        } catch (err) {
            last = err.message;
        }
        if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
        await new Promise(r => setTimeout(r, 100));
    }
}

const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                       args: ['--no-sandbox']});
const page = await browser.newPage({viewport: {width: 1280, height: 1400}});
const errors = [];
page.on('console', m => m.type() === 'error' && errors.push(m.text()));
page.on('pageerror', err => errors.push(err.message));
let answer = null; // what the next prompt() is answered with
page.on('dialog', d => d.accept(answer ?? undefined));
const state = () => page.locator('[data-testid="state"]').first().getAttribute('title');
const saved = sel => page.locator(`[data-saved-action="${sel}"]`);
try {
    // One navigation: the token and the page in one address (a second navigation right after
    // the first could land before the page had taken the token).
    await page.goto(`${url}/#token=${token}&/domains/${domain}`);
    await until('the token taken', () => page.evaluate(() => sessionStorage.getItem('hvd-token')));
    await until('the domain to run', async () => (await state()) === 'running (booted)');
    const panel = page.locator('section', {has: page.locator('#saved-title')});
    assert.match(await panel.innerText(), /disks are referenced, not copied/);

    answer = 'web1';
    await saved('snapshot').click();
    const snap = page.locator('tr[data-snapshot="web1"]');
    await until('the snapshot in the list', () => snap.count());
    const cells = await snap.innerText();
    assert.match(cells, /memory\+vcpu\+devices/);
    assert.match(cells, /\d+\.\d MiB/);

    answer = 'webclone';
    await snap.locator('[data-saved-action="clone-snapshot"]').click();
    await until('the clone to be listed', async () => {
        const r = await fetch(`${url}/api/v1/domains/webclone`);
        return r.ok && (await r.json()).state === 'running';
    });

    await snap.locator('[data-saved-action="revert"]').click();
    await until('the reverted domain to run', async () => (await state()) === 'running (booted)');

    await saved('save').click();
    await until('the domain to be saved', async () => (await state()) === 'shutoff (saved)');
    await page.screenshot({path: path.join(artifacts, 'saved-state.png'), fullPage: true});
    await saved('start-fresh').click();
    await until('the domain to boot afresh', async () => (await state()) === 'running (booted)');

    await snap.locator('[data-saved-action="delete-snapshot"]').click();
    await page.locator('#confirm-ok').click();
    await until('the snapshot to go', async () => (await snap.count()) === 0);
    assert.deepEqual(errors, []);
    console.log('saved-state dashboard test passed');
} catch (err) {
    await page.screenshot({path: path.join(artifacts, 'saved-state-failure.png'), fullPage: true});
    throw err;
} finally {
    await browser.close();
}
