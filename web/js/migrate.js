// A domain page's live migration: the Migrate form (the target hvd's URL and its token, from a
// file or pasted, and the limits), progress live from the migration-progress events, Cancel,
// and the outcome. Disks are referenced, not copied: the target must see the same paths.

import {api} from './api.js';
import {clear, formatRate, h} from './dom.js';
import {updateDomain} from './store.js';
import {notify, updateTokenButton} from './ui.js';

const DISKS_NOTE = 'The domain moves to another hvd while it runs. Disks are referenced, not ' +
                   'copied: the target must see the same disk path.';

// The figures of a progress event, in the order shown: [label, key, format].
const FIGURES = [
    ['Phase', 'phase', v => v],
    ['Iteration', 'iteration', v => String(v)],
    ['Pages sent', 'pages_sent', v => String(v)],
    ['Sent', 'bytes_sent', v => `${(v / 1048576).toFixed(1)} MiB`],
    ['Dirty pages', 'dirty_pages', v => String(v)],
    ['Expected downtime', 'expected_downtime_ms', v => `${v.toFixed(1)} ms`],
    ['Throughput', 'throughput_mib_s', v => `${formatRate(v)} MiB/s`],
    ['Elapsed', 'elapsed_ms', v => `${(v / 1000).toFixed(1)} s`],
];

// Reads the limit typed in input: undefined when empty, a number, or the text as typed (hvd
// says what is wrong with it).
function limit(input) {
    const v = input.value.trim();
    if (v === '')
        return undefined;
    return /^\d+$/.test(v) ? Number(v) : v;
}

export class MigratePanel {
    constructor(name) {
        this.name = name;
        this.running = false; // a migrate request of this page is in flight
        this.url = h('input', {name: 'to', type: 'url', required: true, autocomplete: 'off',
                               placeholder: 'http://192.0.2.10:8765', 'data-migrate': 'to'});
        this.tokenFile = h('input', {name: 'token_file', type: 'file', 'data-migrate': 'token-file'});
        this.tokenText = h('input', {name: 'token', type: 'password', autocomplete: 'off',
                                     spellcheck: 'false', 'data-migrate': 'token'});
        this.downtime = h('input', {name: 'downtime_ms', inputmode: 'numeric', placeholder: '10'});
        this.timeout = h('input', {name: 'timeout_s', inputmode: 'numeric', placeholder: '60'});
        this.bandwidth = h('input', {name: 'bandwidth_mib_s', inputmode: 'numeric',
                                     placeholder: 'no limit'});
        this.submit = h('button', {type: 'submit', 'data-migrate': 'start'}, 'Migrate');
        this.cancel = h('button.danger', {type: 'button', 'data-migrate': 'cancel', hidden: true},
                        'Cancel migration');
        this.error = h('p.error', {role: 'alert', 'data-testid': 'migrate-error', hidden: true});
        this.outcome = h('p', {'data-testid': 'migrate-outcome', hidden: true});
        this.progress = h('dl.details.migrate-progress', {'data-testid': 'migrate-progress',
                                                           'aria-live': 'polite'});
        const field = (label, input, hint) =>
            h('label', h('span', label), input, hint ? h('small', hint) : null);
        this.form = h('form.create.migrate', {novalidate: true, 'aria-label': `Migrate ${name}`},
            h('div.grid',
                field('Target hvd', this.url, 'its HTTP API: http://ADDRESS:PORT'),
                field('Target token file', this.tokenFile, 'its STATE_DIR/http-token'),
                field('or paste the target token', this.tokenText)),
            h('details',
                h('summary', 'Limits'),
                h('div.grid',
                    field('Downtime budget (ms)', this.downtime, 'the pause the last copy may take'),
                    field('Time limit (s)', this.timeout, 'of the copy while the guest runs'),
                    field('Bandwidth (MiB/s)', this.bandwidth))),
            this.error,
            h('div.buttons', this.cancel, this.submit));
        this.form.addEventListener('submit', ev => {
            ev.preventDefault();
            this.migrate();
        });
        this.cancel.addEventListener('click', () => this.cancelMigration());
        this.el = h('section.card', {'aria-labelledby': 'migrate-title', 'data-testid': 'migrate'},
            h('h2', {id: 'migrate-title'}, 'Live migration'),
            h('p.muted', DISKS_NOTE), this.form, this.progress, this.outcome);
        this.state = null;
    }

    // Shows what d's state allows: the form while it runs, Cancel while it migrates.
    render(d) {
        this.state = d.state;
        const migrating = d.state === 'migrating';
        this.submit.disabled = this.running || d.state !== 'running';
        this.submit.title = d.state === 'running' ? '' : 'Only a running domain can be migrated';
        this.cancel.hidden = !migrating && !this.running;
    }

    // A lifecycle event of this domain (the stream's migration-progress ones among them).
    event(ev) {
        if (ev.event !== 'migration-progress')
            return;
        this.cancel.hidden = false;
        const rows = FIGURES.filter(([, key]) => ['number', 'string'].includes(typeof ev[key]))
            .map(([label, key, format]) => [label, key, format(ev[key])]);
        if (ev.to)
            rows.unshift(['To', 'to', ev.to]);
        clear(this.progress).append(...rows.flatMap(([label, key, text]) =>
            [h('dt', label), h('dd', {'data-figure': key}, text)]));
    }

    async token() {
        const file = this.tokenFile.files && this.tokenFile.files[0];
        if (file)
            return (await file.text()).trim();
        return this.tokenText.value.trim();
    }

    showError(text) {
        this.error.textContent = text;
        this.error.hidden = !text;
    }

    async migrate() {
        const to = this.url.value.trim();
        this.showError('');
        this.outcome.hidden = true;
        if (!to) {
            this.url.setAttribute('aria-invalid', 'true');
            this.showError('The target hvd\'s URL is needed: http://ADDRESS:PORT.');
            return;
        }
        this.url.removeAttribute('aria-invalid');
        const body = {to};
        let token;
        try {
            token = await this.token();
        } catch (err) {
            this.showError(`The token file cannot be read: ${err.message}`);
            return;
        }
        if (token)
            body.token = token;
        for (const [key, input] of [['downtime_ms', this.downtime], ['timeout_s', this.timeout],
                                    ['bandwidth_mib_s', this.bandwidth]]) {
            const v = limit(input);
            if (v !== undefined)
                body[key] = v;
        }
        this.running = true;
        this.submit.disabled = true;
        this.submit.classList.add('busy');
        this.cancel.hidden = false;
        clear(this.progress).append(h('dt', 'Phase'), h('dd', {'data-figure': 'phase'}, 'starting'));
        try {
            const d = await api.migrate(this.name, body);
            updateDomain(d);
            this.outcome.textContent = `Migrated to ${to}: ${this.name} runs there now; here it ` +
                                       'is shut off (migrated) and may be deleted.';
            this.outcome.hidden = false;
            this.outcome.append(' ', h('a', {href: `${to}/#/domains/${encodeURIComponent(this.name)}`,
                                             target: '_blank', rel: 'noopener'},
                                       'Open it on the target'));
            notify(`${this.name} migrated to ${to}.`);
        } catch (err) {
            this.showError(`Migration failed: ${err.detail || err.message}`);
        } finally {
            this.running = false;
            this.submit.classList.remove('busy');
            this.submit.disabled = this.state !== 'running';
            this.cancel.hidden = this.state !== 'migrating';
            updateTokenButton();
        }
    }

    async cancelMigration() {
        this.cancel.disabled = true;
        try {
            await api.migrateCancel(this.name);
            notify(`Cancelling the migration of ${this.name}…`);
        } catch (err) {
            this.showError(`Cancel failed: ${err.detail || err.message}`);
        } finally {
            this.cancel.disabled = false;
            updateTokenButton();
        }
    }
}
