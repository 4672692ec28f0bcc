// A domain's network panel: its interfaces (network, MAC, IPv4 address, bridge) and its NIC's
// frame counters each way with frames per second, from the stats events.

import {api} from './api.js';
import {clear, formatRate, h} from './dom.js';
import {historyOf, store, subscribe} from './store.js';

export class DomainNetPanel {
    constructor(name) {
        this.name = name;
        this.prev = null; // {t, net} of the last stats sample shown
        this.list = h('div', {'data-testid': 'interfaces'}, h('p.muted', 'Loading…'));
        this.counters = h('div', {'data-testid': 'net-counters'});
        this.el = h('section.card', {'aria-labelledby': 'net-title'},
            h('h2', {id: 'net-title'}, 'Network'), this.list, this.counters);
        this.state = null;
        this.unsubscribe = subscribe((kind, n) => {
            if (kind === 'stats' && n === name)
                this.renderCounters();
            else if (kind === 'domains')
                this.maybeReload();
        });
        this.maybeReload();
        this.renderCounters();
    }

    // Interfaces change when the domain starts (a lease, a bridge): read them when the domain
    // is first known and again each time it is running anew.
    maybeReload() {
        const d = store.domains.get(this.name);
        const state = d ? d.state : null;
        if (state === this.state)
            return;
        const first = this.state === null;
        this.state = state;
        if (d && (first || state === 'running'))
            api.domain(this.name).then(info => this.renderInterfaces(info.interfaces || []))
                .catch(() => {});
    }

    renderInterfaces(list) {
        if (!list.length) {
            clear(this.list).append(h('p.muted', 'No network interface.'));
            return;
        }
        clear(this.list).append(h('table.interfaces',
            h('thead', h('tr', ['Network', 'MAC', 'IPv4', 'Bridge'].map(t => h('th', {scope: 'col'}, t)))),
            h('tbody', list.map(i => h('tr', {'data-interface': i.network},
                h('td', h('a', {href: '#/networks'}, i.network)),
                h('td', {'data-mac': ''}, i.mac || '–'),
                h('td', {'data-ipv4': ''}, i.ipv4 || '–'),
                h('td', i.bridge || '–'))))));
    }

    renderCounters() {
        const hist = historyOf(this.name);
        const last = hist && hist.last;
        const net = last && last.stats && last.stats.net;
        if (!net || !net.attached) {
            clear(this.counters).append(h('p.muted', 'No frame counters (they come from a running minihv domain\'s NIC).'));
            return;
        }
        const prev = this.prev;
        const dt = prev ? last.t - prev.t : 0;
        const rate = key => (prev && dt > 0 && net[key] >= prev.net[key] ? (net[key] - prev.net[key]) / dt : null);
        this.prev = {t: last.t, net};
        const rows = [['Received', 'rx'], ['Sent', 'tx']].map(([label, dir]) => h('tr', {'data-direction': dir},
            h('th', {scope: 'row'}, label),
            h('td.num', {'data-frames': ''}, String(net[`${dir}_frames`] ?? 0)),
            h('td.num', {'data-fps': ''}, formatRate(rate(`${dir}_frames`))),
            h('td.num', String(net[`${dir}_bytes`] ?? 0)),
            h('td.num', String(net[`${dir}_dropped`] ?? 0))));
        clear(this.counters).append(h('table.net-counters',
            h('thead', h('tr', ['', '#Frames', '#Frames/s', '#Bytes', '#Dropped']
                .map(t => h(t[0] === '#' ? 'th.num' : 'th', {scope: 'col'}, t.replace('#', ''))))),
            h('tbody', rows)));
    }

    destroy() {
        this.unsubscribe();
    }
}
