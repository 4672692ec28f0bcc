// The networks page (#/networks): hvd's networks with their subnet, bridge, NAT, DHCP and the
// domains attached, a form to create one and a delete button on each (refused while domains
// use it, with hvd's reason). The list is fetched again when domains change.

import {api, ApiError} from './api.js';
import {clear, h} from './dom.js';
import {subscribe} from './store.js';
import {confirmDialog, notify} from './ui.js';

const yesNo = v => (v ? 'yes' : 'no');

function networkRow(n, page) {
    const remove = h('button.danger', {type: 'button', 'data-action': 'delete-network'}, 'Delete');
    remove.addEventListener('click', async () => {
        if (!await confirmDialog(`Delete ${n.name}?`,
                                 `Network ${n.name} and its bridge ${n.bridge} go; its leases are forgotten.`,
                                 'Delete'))
            return;
        try {
            await page.serial(() => api.networkRemove(n.name));
            notify(`Network ${n.name} deleted.`);
        } catch (err) {
            notify(err instanceof ApiError ? err.detail : String(err), 'error');
        }
        page.load();
    });
    const domains = n.domains || [];
    return h('tr', {'data-network': n.name},
        h('th', {scope: 'row'}, n.name),
        h('td', {'data-subnet': ''}, n.subnet),
        h('td', n.address || '–'),
        h('td', n.bridge),
        h('td', {'data-nat': ''}, yesNo(n.nat)),
        h('td', {'data-dhcp': ''}, yesNo(n.dhcp)),
        h('td', {'data-domains': ''}, domains.length
            ? domains.map((d, i) => [i ? ', ' : '', h('a', {href: `#/domains/${encodeURIComponent(d)}`}, d)])
            : '–'),
        h('td', remove));
}

function createForm(page) {
    const error = h('p.error', {role: 'alert', 'data-testid': 'network-error', hidden: true});
    const field = (label, input, hint) => h('label', h('span', label), input, hint ? h('small', hint) : null);
    const form = h('form.create.create-network', {novalidate: true, 'aria-label': 'New network'},
        h('div.grid',
            field('Name', h('input', {name: 'name', required: true, autocomplete: 'off', placeholder: 'lan'})),
            field('Subnet', h('input', {name: 'subnet', required: true, autocomplete: 'off', placeholder: '10.123.0.0/24'}),
                  'A.B.C.D/N; the first address is the host\'s'),
            h('label.check', h('input', {name: 'nat', type: 'checkbox'}),
              h('span', 'NAT: masquerade the subnet out of the host')),
            h('label.check', h('input', {name: 'dhcp', type: 'checkbox'}),
              h('span', 'DHCP and DNS (dnsmasq)'))),
        error,
        h('div.buttons', h('button', {type: 'submit'}, 'Create network')));
    form.addEventListener('submit', async ev => {
        ev.preventDefault();
        const settings = {
            name: form.elements.name.value.trim(),
            subnet: form.elements.subnet.value.trim(),
            nat: form.elements.nat.checked,
            dhcp: form.elements.dhcp.checked,
        };
        error.hidden = true;
        try {
            const n = await api.networkCreate(settings);
            notify(`Network ${n.name} created.`);
            form.reset();
        } catch (err) {
            error.textContent = err instanceof ApiError ? err.detail : String(err);
            error.hidden = false;
        }
        page.load();
    });
    return form;
}

export class NetworksPage {
    constructor(container) {
        document.title = 'Networks – hvd';
        this.tbody = h('tbody');
        this.empty = h('p.muted.empty', {hidden: true}, 'No networks yet: create one below.');
        this.status = h('p.muted', 'Loading…');
        clear(container).append(
            h('p', h('a', {href: '#/'}, '← All domains')),
            h('section.card', {'aria-labelledby': 'networks-title'},
                h('h2', {id: 'networks-title'}, 'Networks'),
                h('p.muted', 'Each network is a Linux bridge on the host with a subnet whose first address is the host\'s; ' +
                  'attach a domain with its Network setting.'),
                h('div.table-wrap',
                    h('table.networks', {'aria-labelledby': 'networks-title'},
                        h('thead', h('tr', ['Name', 'Subnet', 'Host address', 'Bridge', 'NAT', 'DHCP', 'Domains', 'Actions']
                            .map(t => h('th', {scope: 'col'}, t)))),
                        this.tbody)),
                this.empty, this.status),
            h('section.card', {'aria-labelledby': 'new-network-title'},
                h('h2', {id: 'new-network-title'}, 'New network'), createForm(this)));
        this.unsubscribe = subscribe(kind => {
            if (kind === 'domains')
                this.load();
        });
        this.load();
    }

    // Loads and deletions run one after the other: a load that listed a network as it was
    // being deleted would ask for it once it is gone.
    serial(fn) {
        const run = (this.queue || Promise.resolve()).then(fn);
        this.queue = run.catch(() => {});
        return run;
    }

    load() {
        return this.serial(() => this.loadNow());
    }

    async loadNow() {
        try {
            const list = await api.networks();
            const full = await Promise.all(list.map(n => api.network(n.name).catch(() => n)));
            clear(this.tbody).append(...full.map(n => networkRow(n, this)));
            this.empty.hidden = full.length > 0;
            this.status.hidden = true;
        } catch (err) {
            this.status.textContent = `The networks could not be read: ${err.message}`;
            this.status.hidden = false;
        }
    }

    destroy() {
        this.unsubscribe();
    }
}
