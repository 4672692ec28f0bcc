// Drives the dashboard's Networks view and a domain's network panel in headless Chromium
// (playwright-core, the system's browser), as a user would: an empty list, a create refused
// with hvd's reason, a NAT network created from the form, a minihv httpd guest on it (made
// over the API) listed as attached, a delete refused while it is used, the domain's address and
// MAC on its page and its frame counters growing while this script fetches its page, then the
// network deleted with confirmation. Fails on any error in the page's console but the refusals
// it provokes. Runs where the guest is reachable: tests/web/test_dashboard_networks.py runs it
// inside the network namespace of the hvd it starts.
//
// usage: node networks.test.mjs URL TOKEN ARTIFACT_DIR
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [url, token, artifacts] = process.argv.slice(2);
if (!url || !token || !artifacts) {
    console.error('usage: node networks.test.mjs URL TOKEN ARTIFACT_DIR');
    process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;
const EXPECTED_ERRORS = [
    {text: /status of 400 \(Bad Request\)/, url: /\/api\/v1\/networks$/, times: 1},
    {text: /status of 409 \(Conflict\)/, url: /\/api\/v1\/networks\/lan$/, times: 1},
];
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

async function apiCall(method, p, body) {
    const resp = await fetch(`${url}${p}`, {
        method,
        headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json'},
        body: body ? JSON.stringify(body) : undefined,
    });
    const text = await resp.text();
    assert.ok(resp.ok, `${method} ${p}: ${resp.status} ${text}`);
    return text ? JSON.parse(text) : null;
}

async function run(page) {
    const row = page.locator('tr[data-network="lan"]');
    const form = page.locator('form.create-network');

    log('open the dashboard, then its Networks view');
    await page.goto(`${url}/#token=${token}`);
    await expectText('the event stream indicator', page.locator('#conn'), /^live$/);
    await page.getByRole('link', {name: 'Networks'}).click();
    await until('the networks address', async () => (await page.evaluate(() => location.hash)) === '#/networks');
    await expectText('the empty list', page.locator('p.empty'), /No networks yet/);

    log('a bad subnet is refused with hvd\'s reason');
    await form.locator('input[name="name"]').fill('lan');
    await form.locator('input[name="subnet"]').fill('10.77.0.9/24');
    await form.getByRole('button', {name: 'Create network'}).click();
    await expectText('the refusal', page.locator('[data-testid="network-error"]'), /the network is 10\.77\.0\.0\/24/);
    await screenshot(page, 'network-refused');

    log('a NAT network from the form');
    await form.locator('input[name="subnet"]').fill('10.77.0.0/24');
    await form.locator('input[name="nat"]').check();
    await form.getByRole('button', {name: 'Create network'}).click();
    await expectText('the subnet', row.locator('[data-subnet]'), /^10\.77\.0\.0\/24$/);
    assert.equal(await textOf(row.locator('[data-nat]')), 'yes');
    assert.equal(await textOf(row.locator('[data-dhcp]')), 'no');
    assert.match(await textOf(row), /10\.77\.0\.1\s+hvdbr\d/);
    assert.equal(await textOf(row.locator('[data-domains]')), '–');

    log('a minihv httpd guest on it is listed as attached');
    await apiCall('POST', '/api/v1/domains', {name: 'web', driver: 'minihv', mode: 'pv', kernel: 'httpd',
                                              memory_mib: 16, network: 'lan'});
    await apiCall('POST', '/api/v1/domains/web/actions/start');
    await expectText('the attached domain', row.locator('[data-domains]'), /^web$/);
    await screenshot(page, 'networks');

    log('deleting a network in use is refused, naming the domain');
    await row.getByRole('button', {name: 'Delete'}).click();
    await page.locator('#confirm-ok').click();
    await expectText('the refusal notice', page.locator('.toast.error').last(), /used by domain 'web'/);
    assert.equal(await row.count(), 1);

    log('the domain\'s page shows its address, MAC and frame counters');
    await row.locator('[data-domains] a').click();
    const iface = page.locator('[data-testid="interfaces"] tr[data-interface="lan"]');
    await expectText('the address', iface.locator('[data-ipv4]'), /^10\.77\.0\.2$/);
    const info = await apiCall('GET', '/api/v1/domains/web');
    assert.equal(await textOf(iface.locator('[data-mac]')), info.interfaces[0].mac);
    // Traffic: this script fetches the guest's page (it runs in hvd's network namespace).
    let fetched = 0;
    const traffic = setInterval(() => {
        fetch('http://10.77.0.2/', {signal: AbortSignal.timeout(3000)})
            .then(r => r.text()).then(t => { if (t.includes('minihv httpd')) fetched++; }).catch(() => {});
    }, 200);
    try {
        const rx = page.locator('[data-testid="net-counters"] tr[data-direction="rx"]');
        await until('received frames and frames per second', async () => {
            const frames = Number(await textOf(rx.locator('[data-frames]')));
            const fps = parseFloat(await textOf(rx.locator('[data-fps]')));
            return fetched > 0 && frames > 0 && fps > 0;
        }, 30000);
        const tx = page.locator('[data-testid="net-counters"] tr[data-direction="tx"]');
        assert.ok(Number(await textOf(tx.locator('[data-frames]'))) > 0);
    } finally {
        clearInterval(traffic);
    }
    await screenshot(page, 'domain-network');

    log('with the domain gone, the network is deleted after confirmation');
    await apiCall('POST', '/api/v1/domains/web/actions/destroy');
    await apiCall('DELETE', '/api/v1/domains/web');
    await page.getByRole('link', {name: 'Networks'}).click();
    await expectText('no attached domain', row.locator('[data-domains]'), /^–$/);
    await row.getByRole('button', {name: 'Delete'}).click();
    await page.locator('#confirm-ok').click();
    await until('the row to go', async () => (await row.count()) === 0);
    await expectText('the empty list', page.locator('p.empty'), /No networks yet/);
    await screenshot(page, 'networks-empty');
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
    const left = EXPECTED_ERRORS.map(e => ({...e}));
    const unexpected = messages.filter(m => {
        if (m.type !== 'error' && m.type !== 'pageerror')
            return false;
        const e = left.find(x => x.times > 0 && x.text.test(m.text) && x.url.test(m.url || ''));
        if (e)
            e.times--;
        return !e;
    });
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
