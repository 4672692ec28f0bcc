// Drives the dashboard's Cluster view in headless Chromium (playwright-core, the system's
// browser), as a user would: the two hosts of the cluster with one leader, a cluster domain
// created over the API listed with the host that runs it, then etcd stopped by the Python side
// (it waits for the file STOP to appear) and the page saying the cluster is unavailable, naming
// etcd. Fails on any error in the page's console but the 503s it provokes.
//
// usage: node cluster.test.mjs URL TOKEN ARTIFACT_DIR
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [url, token, artifacts] = process.argv.slice(2);
if (!url || !token || !artifacts) {
    console.error('usage: node cluster.test.mjs URL TOKEN ARTIFACT_DIR');
    process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;
const EXPECTED_ERROR = /status of 503 \(Service Unavailable\)/;
fs.mkdirSync(artifacts, {recursive: true});
const messages = [];
let shot = 0;

function log(text) {
    console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`);
}

async function screenshot(page, name) {
    const file = path.join(artifacts, `${String(++shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({path: file, fullPage: true});
    log(`screenshot ${file}`);
}

async function until(what, fn, timeout = TIMEOUT) {
    const deadline = Date.now() + timeout;
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
            throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
        await new Promise(r => setTimeout(r, 100));
    }
}

async function textOf(locator) {
    return ((await locator.innerText({timeout: 2000})) || '').replace(/\u00a0/g, ' ');
}

async function expectText(what, locator, pattern) {
    let seen = null;
    try {
        await until(`${what} to match ${pattern}`, async () => pattern.test(seen = await textOf(locator)));
    } catch (err) {
        throw new Error(`${err.message}; the text was ${JSON.stringify(seen)}`);
    }
    return seen;
}

async function run(page) {
    log('open the dashboard, then its Cluster view');
    await page.goto(`${url}/#token=${token}`);
    await page.getByRole('link', {name: 'Cluster'}).click();
    await until('the cluster address', async () => (await page.evaluate(() => location.hash)) === '#/cluster');
    await expectText('the summary', page.locator('[data-testid="cluster-status"]'), /^2 hosts, 0 cluster domains\.$/);
    const leaders = await page.locator('tr[data-host] [data-leader]').allInnerTexts();
    assert.deepEqual(leaders.sort(), ['no', 'yes']);

    log('a cluster domain created over the API appears with its host');
    const resp = await fetch(`${url}/api/v1/cluster/domains`, {
        method: 'POST',
        headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json'},
        body: JSON.stringify({name: 'web', driver: 'minihv', kernel: 'echo', memory_mib: 8, ha: true, host: 'b'}),
    });
    assert.equal(resp.status, 201, await resp.text());
    const row = page.locator('tr[data-domain="web"]');
    await expectText('its host', row.locator('[data-host]'), /^b$/);
    await expectText('its state', row.locator('.badge'), /^running$/);
    assert.equal(await textOf(row.locator('[data-ha]')), 'yes');
    await screenshot(page, 'cluster');

    log('etcd stops: the page says the cluster is unavailable');
    fs.writeFileSync(path.join(artifacts, 'STOP'), '');
    await expectText('the error', page.locator('[data-testid="cluster-status"]'),
                     /^the cluster is unavailable: etcd /);
    await screenshot(page, 'cluster-unavailable');
}

const browser = await chromium.launch({executablePath: CHROMIUM, args: ['--no-sandbox']});
let failed = null;
const page = await (await browser.newContext({viewport: {width: 1280, height: 900}})).newPage();
page.on('console', m => {
    const loc = m.location();
    messages.push({type: m.type(), text: m.text(), url: loc && loc.url});
    if (m.type() === 'error' || m.type() === 'warning')
        log(`page console ${m.type()}: ${m.text()} (${loc && loc.url})`);
});
page.on('pageerror', err => messages.push({type: 'pageerror', text: err.message}));
try {
    await run(page);
    const unexpected = messages.filter(m => (m.type === 'error' && !EXPECTED_ERROR.test(m.text)) ||
                                            m.type === 'pageerror');
    assert.deepEqual(unexpected, [], 'errors in the page\'s console');
} catch (err) {
    failed = err;
    await screenshot(page, 'failure').catch(() => {});
} finally {
    fs.writeFileSync(path.join(artifacts, 'console.json'), JSON.stringify(messages, null, 1));
    await browser.close();
}
if (failed) {
    console.error(failed.stack || failed);
    process.exit(1);
}
log('all steps passed');
