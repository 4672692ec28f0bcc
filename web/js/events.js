// The event log page (#/events): what hvd recorded, newest first, filtered by domain and kind,
// read from GET /api/v1/events/log and then kept up to date by the event stream.

import {api} from './api.js';
import {clear, formatMiB, formatTime, h} from './dom.js';
import {store, subscribe} from './store.js';

const KINDS = ['created', 'updated', 'deleted', 'state-changed', 'runtime-changed',
               'network-created', 'network-deleted', 'migration-progress'];
const LOADED = 200;    // events read when the page opens or a filter changes
const DOMAIN_CHOICES = 50; // names offered under the domain filter as it is typed
const KEPT = 1000;     // rows kept while events keep arriving
const DETAIL_SKIP = new Set(['id', 'time_us', 'event', 'domain', 'caller', 'name', 'uuid',
                             'state_changed_us', 'started_us']);

// One line saying what an event did.
function summary(ev) {
    switch (ev.event) {
    case 'state-changed':
        return `${ev.old_state} → ${ev.state} (${ev.reason})${ev.message ? `: ${ev.message}` : ''}`;
    case 'runtime-changed':
        return ev.pid ? `process ${ev.pid}` : 'no process';
    case 'created':
        return `${ev.driver}, ${ev.mode}, ${ev.vcpus} vCPU${ev.vcpus === 1 ? '' : 's'}, ${formatMiB(ev.memory_mib)}`;
    case 'deleted':
        return ev.uuid ? `UUID ${ev.uuid}` : '';
    default:
        return Object.entries(ev).filter(([k, v]) => !DETAIL_SKIP.has(k) && v !== null)
            .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
    }
}

function eventRow(ev) {
    const domain = ev.domain
        ? (store.domains.has(ev.domain) ? h('a', {href: `#/domains/${encodeURIComponent(ev.domain)}`}, ev.domain) : ev.domain)
        : h('span.muted', ev.name ? `network ${ev.name}` : 'host');
    return h('tr', {dataset: {eventId: ev.id, kind: ev.event, domain: ev.domain || ''}},
        h('td.num', String(ev.id)),
        h('td', formatTime(ev.time_us)),
        h('td', domain),
        h('td', h('span.kind', {'data-kind': ev.event}, ev.event)),
        h('td.summary', summary(ev)),
        h('td', ev.caller ? ev.caller : h('span.muted', 'hvd')));
}

export class EventLogPage {
    constructor(container) {
        document.title = 'Event log – hvd';
        this.domain = '';
        this.kind = '';
        this.lastId = 0;
        this.loading = null;   // the read in flight
        this.queued = [];      // stream events that came while it was
        this.status = h('p.muted', {'data-testid': 'event-log-status'}, 'Loading…');
        this.body = h('tbody');
        // A name typed (with the names that contain it offered), not a choice among every
        // domain: with 10 000 domains one <option> each froze the page.
        this.domainChoices = h('datalist', {id: 'event-log-domains'});
        this.domainInput = h('input', {type: 'search', name: 'domain', 'aria-label': 'Domain',
                                       placeholder: 'every domain', list: 'event-log-domains',
                                       autocomplete: 'off',
                                       on: {input: () => this.fillDomains(), change: () => this.filter(),
                                            search: () => this.filter()}}); // Enter, or its clear button
        this.kindSelect = h('select', {name: 'kind', 'aria-label': 'Kind', on: {change: () => this.filter()}},
            h('option', {value: ''}, 'every kind'), KINDS.map(k => h('option', {value: k}, k)));
        this.fillDomains();
        clear(container).append(
            h('p', h('a', {href: '#/'}, '← All domains')),
            h('section.card', {'aria-labelledby': 'events-title'},
                h('h1', {id: 'events-title'}, 'Event log'),
                h('div.filters', h('label', 'Domain ', this.domainInput, this.domainChoices), h('label', 'Kind ', this.kindSelect)),
                this.status,
                h('table.domains.events', {'data-testid': 'event-log'},
                    h('thead', h('tr', ['#', 'Time', 'Domain', 'Kind', 'What', 'Asked by'].map(t => h('th', t)))),
                    this.body)));
        this.unsubscribe = subscribe((kind, name, data) => {
            if (kind === 'lifecycle')
                this.arrived(data);
            else if (kind === 'domains')
                this.fillDomains();
        });
        this.load();
    }

    // The names offered as the domain is typed: the first DOMAIN_CHOICES of hvd's domains that
    // contain what is typed (a deleted domain's name may be typed in full all the same).
    fillDomains() {
        const needle = this.domainInput.value.trim().toLowerCase();
        const wanted = [];
        for (const name of store.domains.keys()) {
            if (!needle || name.toLowerCase().includes(needle))
                wanted.push(name);
        }
        wanted.sort();
        wanted.length = Math.min(wanted.length, DOMAIN_CHOICES);
        const have = [...this.domainChoices.options].map(o => o.value);
        if (have.length === wanted.length && have.every((n, i) => n === wanted[i]))
            return;
        clear(this.domainChoices).append(...wanted.map(n => h('option', {value: n})));
    }

    filter() {
        const domain = this.domainInput.value.trim(), kind = this.kindSelect.value;
        if (domain === this.domain && kind === this.kind)
            return; // Enter fires both change and search
        this.domain = domain;
        this.kind = kind;
        this.load();
    }

    matches(ev) {
        return (!this.domain || ev.domain === this.domain) && (!this.kind || ev.event === this.kind);
    }

    async load() {
        const query = {limit: LOADED, domain: this.domain, kind: this.kind};
        const read = api.eventLog(query);
        this.loading = read;
        this.queued = [];
        try {
            const log = await read;
            if (this.loading !== read)
                return; // a newer filter asked again
            clear(this.body);
            for (const ev of log.events.reverse())
                this.body.append(eventRow(ev));
            this.lastId = log.last_id; // the stream's events up to it are in the answer
            this.status.textContent = log.events.length ? (log.more ? `The newest ${log.events.length} events.` : '')
                                                        : 'No events match.';
            this.loading = null;
            for (const ev of this.queued)
                this.arrived(ev);
            this.queued = [];
        } catch (err) {
            if (this.loading === read) {
                this.loading = null;
                this.status.textContent = `The event log cannot be read: ${err.message}`;
            }
        }
    }

    // A lifecycle event from the stream: a new row on top when it passes the filters.
    arrived(ev) {
        if (!ev || !ev.id)
            return;
        if (this.loading) {
            this.queued.push(ev);
            return;
        }
        if (ev.id <= this.lastId)
            return;
        this.lastId = ev.id;
        if (!this.matches(ev))
            return;
        if (this.status.textContent === 'No events match.')
            this.status.textContent = '';
        this.body.prepend(eventRow(ev));
        while (this.body.rows.length > KEPT)
            this.body.lastElementChild.remove();
    }

    destroy() {
        this.unsubscribe();
        this.loading = null;
    }
}
