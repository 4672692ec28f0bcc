// The domain page's Migrate action in a real headless Chromium (playwright-core): a wrong target
// token is refused with the target's reason (and no prompt for this hvd's token); a slow
// migration (4 MiB/s) shows pages sent, iterations and the expected downtime live and is
// cancelled, the domain running on here; then one with the token from a file moves it, the page
// saying where it went. Fails on any error in the page's console.
//
// usage: node migrate.test.mjs URL TOKEN DOMAIN TARGET_URL TARGET_TOKEN TARGET_TOKEN_FILE ARTIFACT_DIR
// (tests/web/test_migrate.py starts both hvds and the running domain, and runs this.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [url, token, domain, targetUrl, targetToken, tokenFile, artifacts] = process.argv.slice(2);
const TIMEOUT = 20000;
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
const page = await browser.newPage({viewport: {width: 1280, height: 1600}});
const errors = [];
// A refused migration answers 403/500: the browser logs the failed request itself, which is
// what the page shows, not a fault of the page.
page.on('console', m => m.type() === 'error' && !/status of (403|500)/.test(m.text()) &&
                        errors.push(m.text()));
page.on('pageerror', err => errors.push(err.message));
const state = () => page.locator('[data-testid="state"]').first().getAttribute('title');
const panel = page.locator('[data-testid="migrate"]');
const field = name => panel.locator(`[data-migrate="${name}"]`);
const figure = key => panel.locator(`[data-figure="${key}"]`);
const error = panel.locator('[data-testid="migrate-error"]');
try {
    await page.goto(`${url}/#token=${token}&/domains/${domain}`);
    await until('the token taken', () => page.evaluate(() => sessionStorage.getItem('hvd-token')));
    await until('the domain to run', async () => (await state()) === 'running (booted)');
    assert.match(await panel.innerText(), /Disks are referenced, not copied/);

    // A wrong token: the target's refusal, said in the panel; this hvd's token is kept.
    await field('to').fill(targetUrl);
    await field('token').fill('00');
    await field('start').click();
    await until('the refusal shown', async () => await error.isVisible() && await error.innerText());
    assert.match(await error.innerText(), /^Migration failed: .*(token|refused)/i);
    assert.equal(await page.locator('#token-dialog[open]').count(), 0);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hvd-token')), token);
    await until('the domain to run again', async () => (await state()) === 'running (booted)');

    // Slow, so that it can be watched and cancelled.
    await field('token').fill(targetToken);
    await panel.locator('summary').click();
    await panel.locator('input[name="bandwidth_mib_s"]').fill('4');
    await panel.locator('input[name="timeout_s"]').fill('30');
    await until('Migrate enabled', () => field('start').isEnabled());
    await field('start').click();
    await until('migrating', async () => (await state()) === 'migrating (migrated)');
    await until('pages sent shown', async () => Number(await figure('pages_sent').textContent({timeout: 500})) > 0);
    const text = await panel.innerText();
    assert.match(text, /Iteration\s+\d+/);
    assert.match(text, /Expected downtime\s+[\d.]+ ms/);
    assert.match(text, new RegExp(`To\\s+${targetUrl.replace(/[.]/g, '\\.')}`));
    await page.screenshot({path: path.join(artifacts, 'migrate-progress.png'), fullPage: true});
    await field('cancel').click();
    await until('the cancel reported', async () => await error.isVisible() &&
                                                   /cancel/i.test(await error.innerText()));
    await until('the domain to run here again', async () => (await state()) === 'running (booted)');
    assert.ok(await field('cancel').isHidden());

    // The token from a file, no limits: it moves.
    await field('token').fill('');
    await panel.locator('input[name="bandwidth_mib_s"]').fill('');
    await panel.locator('input[name="timeout_s"]').fill('');
    await field('token-file').setInputFiles(tokenFile);
    await until('Migrate enabled', () => field('start').isEnabled());
    await field('start').click();
    const outcome = panel.locator('[data-testid="migrate-outcome"]');
    await until('the outcome', () => outcome.isVisible());
    assert.match(await outcome.innerText(), new RegExp(`^Migrated to ${targetUrl.replace(/[.]/g, '\\.')}`));
    assert.ok(await error.isHidden());
    await until('the domain migrated here', async () => (await state()) === 'shutoff (migrated)');
    assert.ok(await field('start').isDisabled());
    await panel.screenshot({path: path.join(artifacts, 'migrate-done.png')});
    assert.deepEqual(errors, []);
    console.log('migrate dashboard test passed');
} catch (err) {
    await page.screenshot({path: path.join(artifacts, 'migrate-failure.png'), fullPage: true});
    throw err;
} finally {
    await browser.close();
}
