// A domain's live console in a terminal (xterm.js): the recent output first, then what the
// event stream brings; keys typed are sent to the guest's console input.

import {FitAddon} from '../vendor/addon-fit.mjs';
import {Terminal} from '../vendor/xterm.mjs';
import {api} from './api.js';
import {notify} from './ui.js';

const TAIL_BYTES = 16384;
const SEND_DELAY_MS = 15; // keys typed together go in one request

export class DomainConsole {
    constructor(container, name) {
        this.name = name;
        this.pending = [];   // output events that arrived while the tail was loading
        this.loading = true;
        this.queue = '';
        this.sending = false;
        this.text = '';      // everything shown, for tests and copy (bounded)
        this.term = new Terminal({
            convertEol: true,
            cursorBlink: false,
            disableStdin: false,
            fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
            fontSize: 13,
            rows: 20,
            scrollback: 5000,
            theme: {background: '#101418', foreground: '#d6dde4', cursor: '#5fd38d'},
        });
        this.fit = new FitAddon();
        this.term.loadAddon(this.fit);
        this.term.open(container);
        this.fitSoon();
        this.resizer = new ResizeObserver(() => this.fitSoon());
        this.resizer.observe(container);
        this.term.onData(data => this.type(data));
        this.load();
    }

    fitSoon() {
        cancelAnimationFrame(this.fitFrame);
        this.fitFrame = requestAnimationFrame(() => {
            try {
                this.fit.fit();
            } catch {
                // not laid out yet (hidden); the next resize fits it
            }
        });
    }

    show(data) {
        this.term.write(data);
        this.text = (this.text + data).slice(-65536);
    }

    async load() {
        let tail = '';
        try {
            tail = await api.consoleTail(this.name, TAIL_BYTES);
        } catch (err) {
            this.term.writeln(`\x1b[2m[the console log cannot be read: ${err.detail || err.message}]\x1b[0m`);
        }
        if (this.disposed)
            return;
        if (typeof tail === 'string' && tail)
            this.show(tail);
        // Output that came while the tail was read may be in the tail already.
        let pending = this.pending.join('');
        if (pending && tail.endsWith(pending))
            pending = '';
        this.pending = [];
        this.loading = false;
        if (pending)
            this.show(pending);
    }

    // Output from the event stream.
    output(data) {
        if (this.loading)
            this.pending.push(data);
        else
            this.show(data);
    }

    type(data) {
        // Enter sends a newline, as a terminal's line discipline would (ICRNL).
        this.queue += data.replace(/\r/g, '\n');
        if (!this.sending)
            setTimeout(() => this.flush(), SEND_DELAY_MS);
        this.sending = true;
    }

    async flush() {
        while (this.queue && !this.disposed) {
            const data = this.queue;
            this.queue = '';
            try {
                await api.consoleType(this.name, data);
            } catch (err) {
                notify(`${this.name}: console input was not sent: ${err.detail || err.message}`, 'error');
                this.queue = '';
            }
        }
        this.sending = false;
    }

    focus() {
        this.term.focus();
    }

    dispose() {
        this.disposed = true;
        this.resizer.disconnect();
        cancelAnimationFrame(this.fitFrame);
        this.term.dispose();
    }
}
