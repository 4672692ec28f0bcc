// Drives hvd's dashboard in a real headless Chromium (playwright-core, the system's browser), as
// a user would: token hand-over, host gauges, the create form and its API errors, start, live
// state, console output and input, charts, recorded history and its range switch, pv against
// full, stop, delete with confirmation, the token prompt, from beyond loopback the page asking
// for the token before it shows anything, and the event log growing live as domains change.
// Fails on any error in the page's console.
//
// usage: node dashboard.test.mjs URL TOKEN ARTIFACT_DIR [REMOTE_URL]
// (REMOTE_URL: the same hvd on an address that is not loopback; that step is skipped without.)
// (tests/web/test_dashboard.py starts a private D-Bus and hvd and runs this.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [url, token, artifacts, remote] = process.argv.slice(2);
if (!url || !token || !artifacts) {
    console.error('usage: node dashboard.test.mjs URL TOKEN ARTIFACT_DIR');
    process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 15000;

fs.mkdirSync(artifacts, {recursive: true});
const messages = []; // every console message and page error, for the log and the final check
// The console errors that steps provoke on purpose: Chromium logs every refused request (the
// bad create, the wrong token). Each is allowed as often as the test provokes it.
const EXPECTED_ERRORS = [
    {text: /status of 400 \(Bad Request\)/, url: /\/api\/v1\/domains$/, times: 1},
    {text: /status of 401 \(Unauthorized\)/, url: /\/api\/v1\/domains\/web-echo\/actions\/start$/, times: 1},
    // from beyond loopback, before the token is given: the first list, host and event stream
    {text: /status of 401 \(Unauthorized\)/, url: /\/api\/v1\/(domains|host|events)$/, times: 6},
    {text: /status of 401 \(Unauthorized\)/, url: /\/api\/v1\/host\/history\?range=hour$/, times: 2},
];
let shot = 0;
const pages = []; // every page opened, for screenshots when a step fails

function log(text) {
    console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`);
}

async function screenshot(page, name) {
    const file = path.join(artifacts, `${String(++shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({path: file, fullPage: true});
    log(`screenshot ${file}`);
}

// Polls fn until it returns a truthy value; the error names what and the last value seen.
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

async function expectText(what, locator, pattern, timeout = TIMEOUT) {
    let seen = null;
    try {
        await until(`${what} to match ${pattern}`, async () => {
            seen = await textOf(locator);
            return pattern.test(seen);
        }, timeout);
    } catch (err) {
        throw new Error(`${err.message}; the text was ${JSON.stringify(seen)}`);
    }
    return seen;
}

const row = (page, name) => page.locator(`tr[data-domain="${name}"]`);
const terminal = page => page.locator('[data-testid="console"] .xterm-rows');

// xterm.js paints only while the terminal is on screen: look at it, as a user would.
async function viewConsole(page) {
    await page.locator('[data-testid="console"]').scrollIntoViewIfNeeded();
}

async function createFromForm(page, settings, {start = false} = {}) {
    const form = page.locator('form.create');
    await form.locator('input[name="name"]').fill(settings.name);
    await form.locator('select[name="driver"]').selectOption(settings.driver);
    await form.locator('select[name="mode"]').selectOption(settings.mode);
    await form.locator('input[name="kernel"]').fill(settings.kernel);
    await form.locator('input[name="vcpus"]').fill(String(settings.vcpus));
    await form.locator('input[name="memory_mib"]').fill(String(settings.memory_mib));
    await form.locator('input[name="start"]').setChecked(start);
    await form.getByRole('button', {name: 'Create'}).click();
}

async function exitsPerSecond(page, name) {
    const text = await textOf(row(page, name).locator('[data-exits]'));
    const m = /^([\d.]+)\s*(k|M)?$/.exec(text.trim());
    if (!m)
        return null;
    return Number(m[1]) * ({k: 1e3, M: 1e6}[m[2]] || 1);
}

async function run(browser) {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}});
    const page = await context.newPage();
    const watch = (p, label) => {
        pages.push({page: p, label});
        if (process.env.HVD_WEB_TEST_DEBUG)
            p.on('response', r => log(`${label}: ${r.status()} ${r.request().method()} ${r.url()}`));
        p.on('console', m => {
            const loc = m.location();
            messages.push({type: m.type(), text: m.text(), url: loc && loc.url, where: label});
            if (m.type() === 'error' || m.type() === 'warning')
                log(`page console ${m.type()}: ${m.text()} (${loc && loc.url})`);
        });
        p.on('pageerror', err => {
            messages.push({type: 'pageerror', text: err.message, where: label});
            log(`page error: ${err.message}`);
        });
    };
    watch(page, 'main');

    // 1. The token handed over in the address is kept for the tab and leaves the address bar.
    log('open the dashboard with the token in the fragment');
    await page.goto(`${url}/#token=${token}`);
    await until('the token to leave the address bar', async () => (await page.evaluate(() => location.hash)) === '#/');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hvd-token')), token);
    assert.ok(!page.url().includes(token), 'the token is still in the address');
    await expectText('the event stream indicator', page.locator('#conn'), /^live$/);
    await expectText('the token button', page.locator('#token-button'), /Forget token/);

    // 2. Host panel: capacity against allocation for vCPUs and memory, with the overcommit.
    const host = await (await fetch(`${url}/api/v1/host`)).json();
    await expectText('the vCPU gauge', page.getByTestId('vcpus-allocated'),
                     new RegExp(`^0 of ${host.vcpus_capacity} allocated$`));
    await expectText('the vCPU gauge foot', page.locator('[data-gauge="vcpus"] .gauge-foot'),
                     new RegExp(`host ${host.cpus_available} × ${host.cpu_overcommit} overcommit = ${host.vcpus_capacity}`));
    await expectText('the memory gauge', page.getByTestId('memory-allocated'), /^0 MiB of .* allocated$/);
    await expectText('the empty list', page.locator('.empty'), /No domains yet/);
    await screenshot(page, 'overview-empty');

    // 3. The create form shows the API's problem detail and marks the field it names.
    log('create with a bad name: the API refuses it');
    await createFromForm(page, {name: 'bad name', driver: 'minihv', mode: 'pv', kernel: 'echo', vcpus: 1, memory_mib: 16});
    const error = page.getByTestId('create-error');
    await expectText('the create error', error, /^'name' must be 1\.\.64 characters/);
    assert.equal(await page.locator('form.create input[name="name"]').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('tr[data-domain]').count(), 0, 'a refused domain is listed');
    await screenshot(page, 'create-error');

    // 4. Create a pv echo guest: it is listed, shut off, with what was asked.
    log('create web-echo (minihv, pv, echo)');
    await createFromForm(page, {name: 'web-echo', driver: 'minihv', mode: 'pv', kernel: 'echo', vcpus: 1, memory_mib: 16});
    const echo = row(page, 'web-echo');
    await expectText('web-echo in the list', echo.getByTestId('state'), /^shutoff$/);
    assert.ok(await error.isHidden(), 'the create error is still shown after a success');
    const cells = await echo.locator('td').allInnerTexts();
    assert.deepEqual(cells.slice(0, 7).map(s => s.trim()), ['web-echo', 'shutoff', 'minihv', 'pv', '1', '16 MiB', '–']);
    assert.deepEqual(await echo.locator('button').allInnerTexts(), ['Start', 'Delete']);

    // 5. Start it: running, allocation counted, uptime ticking, statistics flowing.
    log('start web-echo');
    await echo.getByRole('button', {name: 'Start'}).click();
    await expectText('web-echo running', echo.getByTestId('state'), /^running$/);
    assert.deepEqual(await echo.locator('button').allInnerTexts(), ['Shut down', 'Reboot', 'Pause', 'Force off']);
    await expectText('the vCPU gauge after the start', page.getByTestId('vcpus-allocated'),
                     new RegExp(`^1 of ${host.vcpus_capacity} allocated$`));
    await expectText('the memory gauge after the start', page.getByTestId('memory-allocated'), /^16 MiB of /);
    await expectText('the uptime', echo.locator('[data-uptime]'), /^\d+ s$/);
    const hostHistory = page.getByTestId('host-history');
    await until('the host\'s history', async () => Number(await hostHistory.getAttribute('data-points')) >= 2, 20000);
    await until('the host history CPU chart', () => page.locator('[data-testid="host-history-cpu"] canvas').isVisible());
    await expectText('exits per second for web-echo', echo.locator('[data-exits]'), /\d/);
    await screenshot(page, 'overview-running');

    // 6. Its page: console output from the guest, typing echoed back, live charts.
    log('open web-echo\'s page');
    await echo.getByRole('link', {name: 'web-echo'}).click();
    await until('the domain page', async () => (await page.evaluate(() => location.hash)) === '#/domains/web-echo');
    await expectText('the page\'s state badge', page.locator('.domain-head').getByTestId('state'), /^running$/);
    await expectText('the VMM\'s process id', page.locator('dl.details dt:text-is("Process") + dd'), /^[1-9]\d*$/);
    await viewConsole(page);
    await expectText('the guest\'s greeting on the console', terminal(page), /echo: ready \(pv mode\)/);
    await page.locator('[data-testid="console"] .xterm').click();
    await page.keyboard.type('hello from the dashboard');
    await page.keyboard.press('Enter');
    await expectText('the guest echoing what was typed', terminal(page), /hello from the dashboard/);
    await expectText('the exits per second', page.getByTestId('exits-now'), /^\d/);
    await until('the exits chart to be drawn', () => page.locator('[data-testid="chart-exits-reason"] canvas').isVisible());
    await until('the CPU chart to be drawn', () => page.locator('[data-testid="chart-cpu"] canvas').isVisible());
    await expectText('the exits-by-device legend', page.getByTestId('chart-exits-device'), /hypercall:console/);
    // Its recorded history: 1 s points of the last hour, then the day's 1 min points.
    const recorded = page.getByTestId('history');
    await recorded.scrollIntoViewIfNeeded();
    await until('a history of at least three points', async () => Number(await recorded.getAttribute('data-points')) >= 3, 20000);
    await expectText('the history\'s resolution', page.getByTestId('history-status'), /points, one every 1 s\.$/);
    await until('the history CPU chart', () => page.locator('[data-testid="history-cpu"] canvas').isVisible());
    await until('the history exits chart', () => page.locator('[data-testid="history-exits"] canvas').isVisible());
    await recorded.getByRole('button', {name: 'Last day'}).click();
    await until('the day range', async () => (await recorded.getAttribute('data-range')) === 'day');
    assert.equal(await recorded.getByRole('button', {name: 'Last day'}).getAttribute('aria-pressed'), 'true');
    await expectText('the day\'s resolution', page.getByTestId('history-status'), /points?, one every 1 min\.$/);
    await recorded.getByRole('button', {name: 'Last hour'}).click();
    await until('the hour range again', async () => (await recorded.getAttribute('data-range')) === 'hour');
    await screenshot(page, 'domain-pv');

    // 7. The cost of full virtualization: the same guest in full mode exits far more often.
    log('create and start web-echo-full (minihv, full, echo) to compare');
    await page.locator('a', {hasText: 'All domains'}).click();
    await createFromForm(page, {name: 'web-echo-full', driver: 'minihv', mode: 'full', kernel: 'echo', vcpus: 1, memory_mib: 16},
                         {start: true});
    const full = row(page, 'web-echo-full');
    await expectText('web-echo-full running', full.getByTestId('state'), /^running$/);
    const rates = await until('exits per second of both guests', async () => {
        // two stats intervals after the start, so the rate covers a whole interval
        const [pv, fv] = [await exitsPerSecond(page, 'web-echo'), await exitsPerSecond(page, 'web-echo-full')];
        return pv !== null && fv !== null && fv > 0 ? {pv, full: fv} : null;
    });
    log(`exits per second: pv ${rates.pv}, full ${rates.full}`);
    assert.ok(rates.full > 5 * rates.pv, `full mode should exit far more often than pv: ${JSON.stringify(rates)}`);
    await full.getByRole('link', {name: 'web-echo-full'}).click();
    await viewConsole(page);
    await expectText('the full-mode greeting', terminal(page), /echo: ready \(full mode\)/);
    await expectText('the exits-by-device legend', page.getByTestId('chart-exits-device'), /uart/);
    await expectText('the mode note', page.locator('.mode-note'), /every\s+device access/);
    await screenshot(page, 'domain-full');
    await page.goBack();

    // 8. Stop both: graceful shutdown for pv, force off (confirmed) for full.
    log('shut web-echo down');
    await row(page, 'web-echo').getByRole('button', {name: 'Shut down'}).click();
    await expectText('web-echo shut off', row(page, 'web-echo').getByTestId('state'), /^shutoff$/);
    assert.equal(await row(page, 'web-echo').getByTestId('state').getAttribute('title'), 'shutoff (shutdown)');
    await expectText('the uptime cleared', row(page, 'web-echo').locator('[data-uptime]'), /^–$/);
    log('force web-echo-full off: cancel first, then confirm');
    await full.getByRole('button', {name: 'Force off'}).click();
    const dialog = page.locator('#confirm-dialog');
    await expectText('the confirmation', dialog, /Force web-echo-full off\?/);
    await dialog.getByRole('button', {name: 'Cancel'}).click();
    await new Promise(r => setTimeout(r, 300));
    await expectText('web-echo-full still running', full.getByTestId('state'), /^running$/);
    await full.getByRole('button', {name: 'Force off'}).click();
    await dialog.getByRole('button', {name: 'Force off'}).click();
    await expectText('web-echo-full forced off', full.getByTestId('state'), /^shutoff$/);
    assert.equal(await full.getByTestId('state').getAttribute('title'), 'shutoff (destroyed)');
    await expectText('the vCPU gauge after both stopped', page.getByTestId('vcpus-allocated'),
                     new RegExp(`^0 of ${host.vcpus_capacity} allocated$`));
    await screenshot(page, 'overview-stopped');

    // 8b. Overcommit shows: one vCPU more than the host has for guests (a kvm domain on
    // libvirt's test driver, started from the form).
    const over = host.cpus_available + 1;
    log(`create and start web-kvm with ${over} vCPUs`);
    await createFromForm(page, {name: 'web-kvm', driver: 'kvm', mode: 'pv', kernel: '', vcpus: over, memory_mib: 64},
                         {start: true});
    const kvm = row(page, 'web-kvm');
    await expectText('web-kvm running', kvm.getByTestId('state'), /^running$/);
    await expectText('the vCPU gauge with web-kvm', page.getByTestId('vcpus-allocated'),
                     new RegExp(`^${over} of ${host.vcpus_capacity} allocated$`));
    await expectText('the overcommit', page.getByTestId('vcpus-overcommitted'),
                     new RegExp(`^overcommitted ${(over / host.cpus_available).toFixed(2)}×$`));
    assert.ok(await page.locator('[data-gauge="vcpus"] .gauge-over').isVisible(), 'no overcommit band');
    await expectText('the memory gauge with web-kvm', page.locator('[data-gauge="memory"] .gauge-foot'), /within the host/);
    await page.locator('section.card').first().screenshot({path: path.join(artifacts, `${String(++shot).padStart(2, '0')}-host-overcommit.png`)});
    await kvm.getByRole('button', {name: 'Force off'}).click();
    await page.locator('#confirm-dialog').getByRole('button', {name: 'Force off'}).click();
    await expectText('web-kvm off', kvm.getByTestId('state'), /^shutoff$/);
    await kvm.getByRole('button', {name: 'Delete'}).click();
    await page.locator('#confirm-dialog').getByRole('button', {name: 'Delete'}).click();
    await until('web-kvm to leave the list', async () => (await kvm.count()) === 0);
    await expectText('no overcommit left', page.locator('[data-gauge="vcpus"] .gauge-foot'), /within the host/);

    // 9. The console of a stopped guest keeps its last words.
    await row(page, 'web-echo').getByRole('link', {name: 'web-echo'}).click();
    await viewConsole(page);
    await expectText('the console after the shutdown', terminal(page), /echo: shutdown requested, powering off/);
    await expectText('the stopped page\'s actions', page.locator('.domain-head .actions'), /Start\s*Delete/);
    await page.goBack();

    // 10. Delete, confirmed: the row goes.
    log('delete web-echo-full');
    await full.getByRole('button', {name: 'Delete'}).click();
    await dialog.getByRole('button', {name: 'Delete'}).click();
    await until('web-echo-full to leave the list', async () => (await full.count()) === 0);
    await expectText('the domain count', page.locator('#domains-title'), /\(1\)/);

    // 11. A tab without the token asks for it when a change is made, and says why a wrong one
    // is refused.
    log('a second tab without the token');
    const other = await context.newPage();
    watch(other, 'second tab');
    await other.goto(`${url}/`);
    await other.evaluate(() => sessionStorage.clear());
    await other.reload();
    await expectText('the token button', other.locator('#token-button'), /Enter token/);
    await row(other, 'web-echo').getByRole('button', {name: 'Start'}).click();
    const prompt = other.locator('#token-dialog');
    await until('the token prompt', () => prompt.isVisible());
    await prompt.locator('input').fill('0123abcd');
    await prompt.getByRole('button', {name: 'Use token'}).click();
    await expectText('the refusal of a wrong token', prompt.locator('#token-error'), /the bearer token is not valid/);
    await screenshot(other, 'token-prompt');
    await prompt.locator('input').fill(token);
    await prompt.getByRole('button', {name: 'Use token'}).click();
    await expectText('web-echo running again', row(other, 'web-echo').getByTestId('state'), /^running$/);
    // ... and the first tab saw it happen through its event stream.
    await expectText('web-echo running in the first tab', row(page, 'web-echo').getByTestId('state'), /^running$/);
    await row(other, 'web-echo').getByRole('button', {name: 'Force off'}).click();
    await other.locator('#confirm-dialog').getByRole('button', {name: 'Force off'}).click();
    await expectText('web-echo off in the first tab', row(page, 'web-echo').getByTestId('state'), /^shutoff$/);

    // 12. From beyond loopback hvd answers reads only with the token: the page loads, asks for
    // it, then shows the domains and follows the event stream (which carries the token too).
    if (remote) {
        log(`the dashboard from beyond loopback (${remote})`);
        const away = await browser.newContext({viewport: {width: 1280, height: 900}});
        const far = await away.newPage();
        watch(far, 'remote tab');
        await far.goto(`${remote}/`);
        const ask = far.locator('#token-dialog');
        await until('the token prompt before anything is shown', () => ask.isVisible());
        await screenshot(far, 'remote-token-prompt');
        await ask.locator('input').fill(token);
        await ask.getByRole('button', {name: 'Use token'}).click();
        await expectText('web-echo listed from afar', row(far, 'web-echo').getByTestId('state'), /^shutoff$/);
        await expectText('the live event stream', far.locator('#conn'), /^live$/);
        await row(page, 'web-echo').getByRole('button', {name: 'Start'}).click();
        await expectText('web-echo running, seen from afar', row(far, 'web-echo').getByTestId('state'), /^running$/);
        await row(far, 'web-echo').getByRole('button', {name: 'Force off'}).click();
        await far.locator('#confirm-dialog').getByRole('button', {name: 'Force off'}).click();
        await expectText('web-echo off in the first tab', row(page, 'web-echo').getByTestId('state'), /^shutoff$/);
        await away.close();
    } else {
        log('skipped: the dashboard from beyond loopback (this machine has no other address)');
    }
    // 13. The event log: newest first, each row saying what happened and who asked; it grows
    // live as domains change through the API, and filters by domain and kind.
    log('the event log');
    await page.locator('a.nav', {hasText: 'Event log'}).click();
    await until('the event log page', async () => (await page.evaluate(() => location.hash)) === '#/events');
    const logRows = page.locator('[data-testid="event-log"] tbody tr');
    await until('the logged events of web-echo', async () => (await page.locator('[data-testid="event-log"] tbody tr[data-domain="web-echo"]').count()) > 3);
    const topId = Number(await logRows.first().getAttribute('data-event-id'));
    const ids = (await logRows.evaluateAll(rows => rows.map(r => Number(r.dataset.eventId))));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'the log is not newest first');
    const call = async (method, p, body) => {
        const resp = await fetch(`${url}${p}`, {method, headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json'},
                                                body: body ? JSON.stringify(body) : undefined});
        assert.ok(resp.ok, `${method} ${p}: ${resp.status} ${await resp.text()}`);
    };
    const topRow = async () => {
        const r = logRows.first();
        return {id: Number(await r.getAttribute('data-event-id')), kind: await r.getAttribute('data-kind'),
                domain: await r.getAttribute('data-domain'), text: await textOf(r)};
    };
    log('create web-log through the API while the log is open');
    await call('POST', '/api/v1/domains', {name: 'web-log', memory_mib: 64});
    let top = await until('the creation on top', async () => {
        const t = await topRow();
        return t.id > topId && t.kind === 'created' && t.domain === 'web-log' ? t : null;
    });
    assert.match(top.text, /kvm, pv, 1 vCPU, 64 MiB/);
    assert.match(top.text, /127\.0\.0\.1 over HTTP$/);
    log('start and force off web-log');
    await call('POST', '/api/v1/domains/web-log/actions/start');
    await until('the start on top', async () => /starting → running \(booted\)/.test((await topRow()).text));
    await call('POST', '/api/v1/domains/web-log/actions/destroy');
    top = await until('the stop on top', async () => {
        const t = await topRow();
        return /→ shutoff \(destroyed\)/.test(t.text) ? t : null;
    });
    assert.equal(top.domain, 'web-log');
    assert.match(top.text, /\t127\.0\.0\.1 over HTTP$/);
    await screenshot(page, 'event-log');
    log('filter the log: web-log, state changes only');
    // The domain is typed, with the names that contain it offered (a datalist, not one
    // <option> per domain).
    await page.locator('input[name="domain"]').fill('web-l');
    await until('web-log offered', async () =>
        (await page.locator('#event-log-domains option').evaluateAll(os => os.map(o => o.value))).includes('web-log'));
    await page.locator('input[name="domain"]').fill('web-log');
    await page.locator('input[name="domain"]').press('Enter');
    await page.locator('select[name="kind"]').selectOption('state-changed');
    await until('only web-log\'s state changes', async () => {
        const rows = await logRows.evaluateAll(rs => rs.map(r => `${r.dataset.domain} ${r.dataset.kind}`));
        return rows.length === 3 && rows.every(r => r === 'web-log state-changed');
    });
    assert.deepEqual((await logRows.locator('td.summary').allInnerTexts()).map(t => t.trim()),
                     ['running → shutoff (destroyed)', 'starting → running (booted)', 'shutoff → starting (booting)']);
    assert.match(await textOf(logRows.first()), /→ shutoff \(destroyed\)/);
    log('delete web-log: a deletion does not pass the filter; a new start of web-echo neither');
    await call('DELETE', '/api/v1/domains/web-log');
    await call('POST', '/api/v1/domains/web-echo/actions/start');
    await call('POST', '/api/v1/domains/web-echo/actions/destroy');
    await page.locator('select[name="kind"]').selectOption('');
    await until('the deletion under the domain filter', async () => (await topRow()).kind === 'deleted');
    assert.equal(await page.locator('[data-testid="event-log"] tbody tr:not([data-domain="web-log"])').count(), 0);
    await screenshot(page, 'event-log-filtered');
    log('the domain filter emptied: every domain again');
    await page.locator('input[name="domain"]').fill('');
    await page.locator('input[name="domain"]').press('Enter');
    await until('web-echo\'s events back', async () =>
        (await page.locator('[data-testid="event-log"] tbody tr[data-domain="web-echo"]').count()) > 0);
    await page.locator('a', {hasText: 'All domains'}).click();

    await screenshot(page, 'final');
    await context.close();
}

// Console errors and warnings: any is a failure but those the steps provoke on purpose.
function unexpected() {
    const left = EXPECTED_ERRORS.map(e => e.times);
    return messages.filter(m => {
        if (m.type !== 'error' && m.type !== 'pageerror' && m.type !== 'warning')
            return false;
        const i = EXPECTED_ERRORS.findIndex((e, k) => left[k] > 0 && m.type === 'error' &&
                                                       e.text.test(m.text) && e.url.test(m.url || ''));
        if (i < 0)
            return true;
        left[i]--;
        return false;
    });
}

let browser;
let failed = null;
try {
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        // Playwright adds --headless and a fresh temporary profile (--user-data-dir) itself;
        // without the background-networking switches Chromium keeps calling out to the network.
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    await run(browser);
} catch (err) {
    failed = err;
    log(`FAILED: ${err.stack || err.message}`);
    for (const {page, label} of pages) {
        try {
            if (!page.isClosed())
                await screenshot(page, `failure-${label.replace(/\W+/g, '-')}`);
        } catch (shotErr) {
            log(`no failure screenshot of ${label}: ${shotErr.message}`);
        }
    }
} finally {
    if (browser)
        await browser.close();
}

fs.writeFileSync(path.join(artifacts, 'console.json'), JSON.stringify(messages, null, 2));
const bad = unexpected();
if (bad.length) {
    log(`the page logged ${bad.length} unexpected error(s):`);
    for (const m of bad)
        log(`  ${m.where} ${m.type}: ${m.text} ${m.url || ''}`);
}
log(`artifacts in ${artifacts}`);
process.exit(failed || bad.length ? 1 : 0);
