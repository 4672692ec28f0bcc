// The front page: host allocation gauges, the host's recorded history, the domain list with
// its actions, the create form.

import {api} from './api.js';
import {clear, formatDuration, formatMiB, formatPercent, formatRate, h, uptimeOf} from './dom.js';
import {HistoryPanel} from './history.js';
import {historyOf, store, subscribe, updateDomain} from './store.js';
import {actionButtons, notify, stateBadge, updateTokenButton} from './ui.js';

const GUESTS = ['hello', 'echo', 'clock', 'blk', 'bench', 'smp'];

// One horizontal gauge: allocated against capacity, with a mark where the host's real
// resources end and overcommit begins.
function gauge({label, unit, allocated, physical, capacity, ratio, format}) {
    const scale = Math.max(capacity, allocated, 1);
    const pct = v => `${Math.min(100, (100 * v) / scale).toFixed(2)}%`;
    const over = allocated > physical;
    const bar = h('div.gauge-bar', {
        role: 'meter',
        'aria-label': `${label} allocated`,
        'aria-valuemin': 0,
        'aria-valuemax': capacity,
        'aria-valuenow': allocated,
    },
        h('div.gauge-fill', {style: `width: ${pct(Math.min(allocated, physical))}`}),
        over ? h('div.gauge-over', {style: `left: ${pct(physical)}; width: ${pct(allocated - physical)}`}) : null,
        capacity > physical ? h('div.gauge-mark', {style: `left: ${pct(physical)}`, title: `host: ${format(physical)}`}) : null);
    const free = Math.max(0, capacity - allocated);
    return h('div.gauge', {'data-gauge': unit},
        h('div.gauge-head',
            h('span.gauge-label', label),
            h('span.gauge-value', {'data-testid': `${unit}-allocated`},
                `${format(allocated)} of ${format(capacity)} allocated`)),
        bar,
        h('div.gauge-foot',
            h('span', `host ${format(physical)} × ${ratio} overcommit = ${format(capacity)}`),
            h('span', `${format(free)} free`),
            over ? h('span.overcommitted', {'data-testid': `${unit}-overcommitted`},
                `overcommitted ${(allocated / Math.max(physical, 1)).toFixed(2)}×`)
                 : h('span.within', 'within the host')));
}

function hostPanel(host) {
    if (!host)
        return h('p.muted', 'Loading the host…');
    const drivers = Object.entries(host.drivers || {}).map(([name, d]) =>
        h('li', {'data-driver': name, class: d.available ? 'ok' : 'unavailable', title: d.reason || ''},
            `${name}: ${d.available ? 'available' : `unavailable (${d.reason || 'no reason given'})`}`));
    const states = Object.entries(host.states || {}).filter(([, n]) => n > 0)
        .map(([state, n]) => h('li', h('span.badge', {'data-state': state}, state), ` ${n}`));
    return [
        gauge({label: 'vCPUs', unit: 'vcpus', allocated: host.vcpus_allocated,
               physical: host.cpus_available, capacity: host.vcpus_capacity,
               ratio: host.cpu_overcommit, format: v => `${v}`}),
        gauge({label: 'Memory', unit: 'memory', allocated: host.memory_allocated_mib,
               physical: Math.max(0, host.memory_mib - host.memory_reserved_mib),
               capacity: host.memory_capacity_mib, ratio: host.memory_overcommit,
               format: formatMiB}),
        h('div.host-facts',
            h('span', `${host.cpus} CPUs (${host.cpus_available} for guests), ` +
                      `${formatMiB(host.memory_mib)} memory (${formatMiB(host.memory_reserved_mib)} kept for the host)`),
            h('ul.inline', drivers),
            h('ul.inline', {'aria-label': 'Domains by state'}, states.length ? states : h('li.muted', 'no domains'))),
    ];
}

// The fields that show in a row: a row is rebuilt only when one of them changed.
function rowSignature(d) {
    return [d.state, d.reason, d.driver, d.mode, d.vcpus, d.memory_mib, d.started_us].join('|');
}

function domainRow(d) {
    const hist = historyOf(d.name);
    const live = hist && hist.latest && d.state === 'running';
    return h('tr', {'data-domain': d.name},
        h('td', h('a', {href: `#/domains/${encodeURIComponent(d.name)}`}, d.name)),
        h('td', stateBadge(d)),
        h('td', d.driver),
        h('td', h('span.mode', {'data-mode': d.mode}, d.mode)),
        h('td.num', d.vcpus),
        h('td.num', formatMiB(d.memory_mib)),
        h('td.num', {'data-uptime': ''}, formatDuration(uptimeOf(d))),
        h('td.num', {'data-cpu': ''}, live ? formatPercent(hist.latest.cpu) : '–'),
        h('td.num', {'data-exits': ''}, live ? formatRate(hist.latest.exits) : '–'),
        h('td', actionButtons(d, {compact: true})));
}

function createForm(host) {
    const drivers = host ? host.drivers || {} : {};
    const preferred = drivers.minihv && drivers.minihv.available ? 'minihv' : 'kvm';
    const error = h('p.error', {role: 'alert', 'data-testid': 'create-error', hidden: true});
    const field = (label, input, hint) =>
        h('label', h('span', label), input, hint ? h('small', hint) : null);
    const driverSelect = h('select', {name: 'driver'},
        ['minihv', 'kvm'].map(name => h('option', {
            value: name,
            selected: name === preferred,
        }, drivers[name] && !drivers[name].available ? `${name} (unavailable)` : name)));
    const guestList = h('datalist', {id: 'guest-names'}, GUESTS.map(g => h('option', {value: g})));
    const submit = h('button', {type: 'submit'}, 'Create');
    const form = h('form.create', {novalidate: true, 'aria-label': 'New domain'},
        h('div.grid',
            field('Name', h('input', {name: 'name', required: true, autocomplete: 'off', placeholder: 'web1'})),
            field('Driver', driverSelect),
            field('Mode', h('select', {name: 'mode'},
                h('option', {value: 'pv'}, 'pv (paravirtualized)'),
                h('option', {value: 'full'}, 'full (emulated devices)'))),
            field('Kernel / guest', h('input', {name: 'kernel', list: 'guest-names', placeholder: 'echo'}),
                  'minihv: hello, echo, clock, blk, bench, smp or a path'),
            field('vCPUs', h('input', {name: 'vcpus', type: 'number', value: '1', inputmode: 'numeric'})),
            field('Memory (MiB)', h('input', {name: 'memory_mib', type: 'number', value: '64', inputmode: 'numeric'}))),
        h('details',
            h('summary', 'More settings'),
            h('div.grid',
                field('Command line', h('input', {name: 'cmdline'})),
                field('Initial ramdisk', h('input', {name: 'initrd'}), 'kvm, with a kernel'),
                field('Disk image', h('input', {name: 'disk'})),
                field('CPU set', h('input', {name: 'cpuset', placeholder: '0-1'})),
                field('Network', h('input', {name: 'network'})),
                field('On crash', h('select', {name: 'on_crash'},
                    ['destroy', 'restart', 'preserve'].map(v => h('option', {value: v}, v)))),
                h('label.check', h('input', {name: 'autostart', type: 'checkbox'}), h('span', 'Start when hvd starts')))),
        guestList,
        error,
        h('div.buttons',
            h('label.check', h('input', {name: 'start', type: 'checkbox'}), h('span', 'Start it now')),
            submit));

    form.addEventListener('submit', async ev => {
        ev.preventDefault();
        const data = new FormData(form);
        const settings = {};
        for (const key of ['name', 'driver', 'mode', 'kernel', 'initrd', 'cmdline', 'disk', 'cpuset', 'network', 'on_crash']) {
            const v = (data.get(key) || '').trim();
            if (v !== '')
                settings[key] = v;
        }
        for (const key of ['vcpus', 'memory_mib']) {
            const v = (data.get(key) || '').trim();
            if (v !== '')
                settings[key] = /^-?\d+$/.test(v) ? Number(v) : v; // hvd explains what is wrong
        }
        if (data.get('autostart'))
            settings.autostart = true;
        if (settings.on_crash === 'destroy')
            delete settings.on_crash;
        for (const el of form.querySelectorAll('[aria-invalid]'))
            el.removeAttribute('aria-invalid');
        error.hidden = true;
        submit.disabled = true;
        try {
            const d = await api.create(settings);
            updateDomain(d);
            notify(`${d.name} created.`);
            form.elements.name.value = '';
            if (data.get('start'))
                updateDomain(await api.action(d.name, 'start'));
        } catch (err) {
            error.textContent = err.detail || err.message;
            error.hidden = false;
            // The detail names the field it is about: 'name' must be ...
            const m = /^'([a-z_]+)'/.exec(error.textContent);
            if (m && form.elements[m[1]])
                form.elements[m[1]].setAttribute('aria-invalid', 'true');
        } finally {
            submit.disabled = false;
            updateTokenButton();
        }
    });
    return form;
}

const COLLATOR = new Intl.Collator();
const PAGE_SIZES = [50, 100, 250];
// Which page of the list shows, kept while the user visits a domain and comes back.
const listView = {page: 0, size: 100, filter: ''};

// The domains' names in order, sorted again only when the set of names may have changed (a new
// list from hvd, a domain added or removed): 10 000 of them take a while to sort.
const sortedNames = {map: null, size: -1, names: []};

function domainNames() {
    if (sortedNames.map !== store.domains || sortedNames.size !== store.domains.size) {
        sortedNames.names = [...store.domains.keys()].sort(COLLATOR.compare);
        sortedNames.map = store.domains;
        sortedNames.size = store.domains.size;
    }
    return sortedNames.names;
}

export class Overview {
    constructor(container) {
        this.container = container;
        this.rows = new Map(); // name -> {row, signature}
        this.hostBox = h('div.host', {'data-testid': 'host'});
        this.count = h('span.muted');
        this.tbody = h('tbody');
        this.empty = h('p.muted.empty', 'No domains yet: create one below.');
        this.formBox = h('div');
        this.recorded = new HistoryPanel({title: 'Host history (the domains\' totals)', testid: 'host-history',
                                          load: range => api.hostHistory(range)});
        this.pager = this.makePager();
        clear(container).append(
            h('section.card', {'aria-labelledby': 'host-title'},
                h('h2', {id: 'host-title'}, 'Host'), this.hostBox),
            this.recorded.el,
            h('section.card', {'aria-labelledby': 'domains-title'},
                h('h2', {id: 'domains-title'}, 'Domains ', this.count),
                this.pager.el,
                h('div.table-wrap',
                    h('table.domains', {'aria-labelledby': 'domains-title'},
                        h('thead', h('tr',
                            ['Name', 'State', 'Driver', 'Mode', '#vCPUs', '#Memory', '#Uptime', '#CPU', '#Exits/s', 'Actions']
                                .map(t => h(t[0] === '#' ? 'th.num' : 'th', {scope: 'col'}, t.replace('#', ''))))),
                        this.tbody)),
                this.empty),
            h('section.card', {'aria-labelledby': 'create-title'},
                h('h2', {id: 'create-title'}, 'New domain'), this.formBox));
        this.renderHost();
        this.renderDomains();
        this.unsubscribe = subscribe((kind, name) => this.changed(kind, name));
        this.ticker = setInterval(() => this.tick(), 1000);
    }

    changed(kind, name) {
        if (kind === 'domains')
            this.renderDomains();
        else if (kind === 'host')
            this.renderHost();
        else if (kind === 'stats')
            this.renderStats(name);
    }

    renderHost() {
        clear(this.hostBox).append(...[hostPanel(store.host)].flat());
        // The form needs the drivers' availability once; it keeps what the user typed after.
        if (store.host && !this.formBox.firstChild)
            this.formBox.append(createForm(store.host));
    }

    // The list's controls: a name filter, the page size, and the previous and next pages.
    makePager() {
        const filter = h('input', {type: 'search', placeholder: 'Filter by name', value: listView.filter,
                                   'aria-label': 'Filter domains by name', 'data-testid': 'domain-filter'});
        const size = h('select', {'aria-label': 'Domains per page', 'data-testid': 'page-size'},
            PAGE_SIZES.map(n => h('option', {value: String(n), selected: n === listView.size}, `${n} per page`)));
        const prev = h('button.small.secondary', {type: 'button', 'data-testid': 'page-prev'}, '← Previous');
        const next = h('button.small.secondary', {type: 'button', 'data-testid': 'page-next'}, 'Next →');
        const where = h('span.muted', {'data-testid': 'page-range', 'aria-live': 'polite'});
        const go = page => {
            listView.page = page;
            this.renderDomains();
        };
        filter.addEventListener('input', () => {
            listView.filter = filter.value.trim();
            go(0);
        });
        size.addEventListener('change', () => {
            const first = listView.page * listView.size;
            listView.size = Number(size.value);
            go(Math.floor(first / listView.size));
        });
        prev.addEventListener('click', () => go(listView.page - 1));
        next.addEventListener('click', () => go(listView.page + 1));
        return {el: h('div.pager', filter, size, prev, where, next), prev, next, where};
    }

    // The names on the page shown (the filter applied), and the pager's state.
    pageNames() {
        const all = domainNames();
        const needle = listView.filter.toLowerCase();
        const names = needle ? all.filter(n => n.toLowerCase().includes(needle)) : all;
        const pages = Math.max(1, Math.ceil(names.length / listView.size));
        listView.page = Math.min(Math.max(0, listView.page), pages - 1);
        const first = listView.page * listView.size;
        const shown = names.slice(first, first + listView.size);
        const {prev, next, where} = this.pager;
        prev.disabled = listView.page === 0;
        next.disabled = listView.page >= pages - 1;
        where.textContent = names.length
            ? `${first + 1}–${first + shown.length} of ${names.length}${needle ? ` matching (${all.length} in all)` : ''}`
            : (needle ? `none of ${all.length} matches` : '');
        this.pager.el.hidden = all.length <= PAGE_SIZES[0] && !needle;
        return {all, shown};
    }

    renderDomains() {
        const {all, shown: names} = this.pageNames();
        const visible = new Set(names);
        this.count.textContent = store.loaded ? `(${all.length})` : '';
        this.empty.hidden = !store.loaded || all.length > 0;
        for (const [name, entry] of this.rows)
            if (!visible.has(name) || !store.domains.has(name)) {
                entry.row.remove();
                this.rows.delete(name);
            }
        let prev = null;
        for (const name of names) {
            const d = store.domains.get(name);
            const sig = rowSignature(d);
            let entry = this.rows.get(name);
            if (!entry || entry.signature !== sig) {
                const row = domainRow(d);
                if (entry)
                    entry.row.replaceWith(row);
                entry = {row, signature: sig};
                this.rows.set(name, entry);
            }
            const wanted = prev ? prev.nextSibling : this.tbody.firstChild;
            if (wanted !== entry.row)
                this.tbody.insertBefore(entry.row, wanted);
            prev = entry.row;
        }
    }

    renderStats(name) {
        const entry = this.rows.get(name);
        const hist = historyOf(name);
        const d = store.domains.get(name);
        if (!entry || !hist || !hist.latest || !d || d.state !== 'running')
            return;
        entry.row.querySelector('[data-cpu]').textContent = formatPercent(hist.latest.cpu);
        entry.row.querySelector('[data-exits]').textContent = formatRate(hist.latest.exits);
    }

    tick() {
        for (const [name, entry] of this.rows) {
            const d = store.domains.get(name);
            if (d && uptimeOf(d) !== null)
                entry.row.querySelector('[data-uptime]').textContent = formatDuration(uptimeOf(d));
        }
    }

    destroy() {
        this.unsubscribe();
        clearInterval(this.ticker);
        this.recorded.destroy();
    }
}
