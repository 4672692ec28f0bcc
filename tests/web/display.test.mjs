// Opens a kvm domain's Display on hvd's dashboard in a real headless Chromium (playwright-core,
// the system's browser), as a user would: the domain's page, "Open display", noVNC connecting
// through hvd's WebSocket. Checks that the canvas has the guest framebuffer's size, is not all
// one colour, shows the guest's greeting (green text it wrote to the VGA screen) and the
// pixels a VNC client read from the same display (reference, raw RGBA); keys typed reach the display without errors; closing it says so. Fails on any error
// in the page's console.
//
// usage: node display.test.mjs URL TOKEN DOMAIN WIDTH HEIGHT REFERENCE.rgba ARTIFACT_DIR
// (tests/web/test_display.py starts libvirtd, hvd and the guest and runs this.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [url, token, domain, widthArg, heightArg, reference, artifacts] = process.argv.slice(2);
if (!artifacts) {
    console.error('usage: node display.test.mjs URL TOKEN DOMAIN WIDTH HEIGHT REFERENCE.rgba ARTIFACT_DIR');
    process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;
const width = Number(widthArg), height = Number(heightArg);
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
            throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
        await new Promise(r => setTimeout(r, 100));
    }
}

// What the canvas shows: its size, how many colours, and how many pixels differ from the
// reference (RGBA, the same size), read in the page.
async function canvasView(page, ref) {
    return page.evaluate(refB64 => {
        const canvas = document.querySelector('[data-testid="display"] canvas');
        if (!canvas || !canvas.width)
            return null;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const colours = new Set();
        for (let i = 0; i < data.length && colours.size < 64; i += 4)
            colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        // The guest's greeting, bright green from text row 12 (16 pixels a row).
        let green = 0;
        for (let y = 12 * 16; y < Math.min(14 * 16, canvas.height); y++)
            for (let x = 0; x < canvas.width; x++) {
                const i = (y * canvas.width + x) * 4;
                if (data[i + 1] > 200 && data[i] < 120 && data[i + 2] < 120)
                    green++;
            }
        let differ = -1;
        if (refB64) {
            const refBytes = Uint8Array.from(atob(refB64), c => c.charCodeAt(0));
            differ = 0;
            if (refBytes.length !== data.length)
                differ = Infinity;
            else
                for (let i = 0; i < data.length; i += 4)
                    if (data[i] !== refBytes[i] || data[i + 1] !== refBytes[i + 1] || data[i + 2] !== refBytes[i + 2])
                        differ++;
        }
        return {width: canvas.width, height: canvas.height, colours: colours.size, green, differ};
    }, ref);
}

async function run(browser) {
    const context = await browser.newContext({viewport: {width: 1280, height: 1000}});
    const page = await context.newPage();
    page.on('console', m => messages.push({type: m.type(), text: m.text(), url: m.location().url}));
    page.on('pageerror', err => messages.push({type: 'pageerror', text: err.message}));

    // The token handed over in the address, as `hvctl vnc` prints it.
    await page.goto(`${url}/#token=${token}&/domains/${domain}`);
    const card = page.locator('[data-testid="display-card"]');
    await card.waitFor({timeout: TIMEOUT});
    await screenshot(page, 'domain-page');

    log('opening the display');
    await page.locator('[data-testid="display-open"]').click();
    await until('the display to connect', async () =>
        (await page.locator('[data-testid="display-status"]').getAttribute('data-state')) === 'connected');
    const ref = fs.readFileSync(reference).toString('base64');
    // noVNC draws what the first full update brings; the text cursor may blink meanwhile.
    const view = await until('the guest screen on the canvas', async () => {
        const v = await canvasView(page, ref);
        return v && v.colours > 1 && v.green > 100 && v.differ <= width * height / 100 ? v : null;
    });
    log(`canvas ${view.width}x${view.height}, ${view.colours} colours, ${view.green} pixels of the greeting, ` +
        `${view.differ} pixels differ from the reference`);
    assert.equal(view.width, width, 'canvas width is the framebuffer width');
    assert.equal(view.height, height, 'canvas height is the framebuffer height');
    assert.ok(view.colours > 1, 'the canvas is not all one colour');
    const status = await page.locator('[data-testid="display-status"]').textContent();
    assert.match(status, new RegExp(`Connected \\(${width}×${height}\\)`));
    await page.locator('[data-testid="display"] canvas').screenshot({path: path.join(artifacts, 'canvas.png')});
    await screenshot(page, 'display-open');

    // Keys go to the guest (it ignores them; the session must stay up).
    await page.locator('[data-testid="display"] canvas').click();
    await page.keyboard.type('hello');
    await new Promise(r => setTimeout(r, 500));
    assert.equal(await page.locator('[data-testid="display-status"]').getAttribute('data-state'), 'connected');

    await page.locator('[data-testid="display-close"]').click();
    await until('the display to close', async () =>
        (await page.locator('[data-testid="display-status"]').textContent()).includes('closed'));
    assert.equal(await page.locator('[data-testid="display"] canvas').count(), 0, 'the canvas is gone');
    await screenshot(page, 'display-closed');
    await context.close();
}

let browser;
let failed = null;
try {
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    await run(browser);
} catch (err) {
    failed = err;
    log(`FAILED: ${err.stack || err.message}`);
    try {
        for (const ctx of browser ? browser.contexts() : [])
            for (const page of ctx.pages())
                await screenshot(page, 'failure');
    } catch (shotErr) {
        log(`no failure screenshot: ${shotErr.message}`);
    }
} finally {
    if (browser)
        await browser.close();
}

fs.writeFileSync(path.join(artifacts, 'console.json'), JSON.stringify(messages, null, 2));
const bad = messages.filter(m => m.type === 'error' || m.type === 'pageerror' || m.type === 'warning');
for (const m of bad)
    log(`page ${m.type}: ${m.text} ${m.url || ''}`);
process.exit(failed || bad.length ? 1 : 0);
