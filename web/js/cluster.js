// The cluster page (#/cluster): the hosts of the cluster this hvd belongs to (leader, draining,
// domains, free vCPUs and memory) and the cluster's domains with the host each runs on, read
// from etcd through hvd every two seconds; what hvd says when it is not in a cluster or etcd
// cannot be reached is shown instead.

import {api} from './api.js';
import {clear, h} from './dom.js';

const REFRESH_MS = 2000;
const yesNo = v => (v ? 'yes' : 'no');

function hostRow(host) {
    const res = host.resources || {};
    return h('tr', {'data-host': host.name},
        h('th', {scope: 'row'}, host.name),
        h('td', {'data-leader': ''}, yesNo(host.leader)),
        h('td', {'data-draining': ''}, yesNo(host.draining)),
        h('td', String(Object.keys(host.domains || {}).length)),
        h('td', String(res.vcpus_free ?? '–')),
        h('td', res.memory_free_mib === undefined ? '–' : `${res.memory_free_mib} MiB`),
        h('td', host.advertise ? h('a', {href: host.advertise}, host.advertise) : '–'));
}

function domainRow(d) {
    return h('tr', {'data-domain': d.name},
        h('th', {scope: 'row'}, d.name),
        h('td', {'data-host': ''}, d.host || '–'),
        h('td', h('span.badge', {'data-state': d.state, title: d.reason || ''}, d.state)),
        h('td', {'data-ha': ''}, yesNo(d.ha)),
        h('td', String(d.vcpus)),
        h('td', `${d.memory_mib} MiB`));
}

function table(id, title, headers, tbody) {
    return h('section.card', {'aria-labelledby': id},
        h('h2', {id}, title),
        h('div.table-wrap',
            h('table', {'aria-labelledby': id},
                h('thead', h('tr', headers.map(t => h('th', {scope: 'col'}, t)))), tbody)));
}

export class ClusterPage {
    constructor(container) {
        document.title = 'Cluster – hvd';
        this.hosts = h('tbody');
        this.domains = h('tbody');
        this.status = h('p.muted', {'data-testid': 'cluster-status'}, 'Loading…');
        clear(container).append(
            h('p', h('a', {href: '#/'}, '← This host\'s domains')),
            this.status,
            table('cluster-hosts-title', 'Cluster hosts',
                  ['Host', 'Leader', 'Draining', 'Domains', 'Free vCPUs', 'Free memory', 'API'], this.hosts),
            table('cluster-domains-title', 'Cluster domains',
                  ['Name', 'Host', 'State', 'HA', 'vCPUs', 'Memory'], this.domains));
        this.timer = setInterval(() => this.load(), REFRESH_MS);
        this.load();
    }

    async load() {
        try {
            const [hosts, domains] = await Promise.all([api.clusterHosts(), api.clusterDomains()]);
            clear(this.hosts).append(...hosts.map(hostRow));
            clear(this.domains).append(...domains.map(domainRow));
            this.status.textContent = `${hosts.length} hosts, ${domains.length} cluster domains.`;
        } catch (err) {
            this.status.textContent = err.message;
        }
    }

    destroy() {
        clearInterval(this.timer);
    }
}
