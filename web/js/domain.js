// A domain's page: settings, state and actions, live charts of CPU and exits (the cost of
// full virtualization against pv shows here), its recorded history, and its console.

import {exitsByDeviceChart, exitsByReasonChart, cpuChart} from './charts.js';
import {api} from './api.js';
import {DomainConsole} from './console.js';
import {DomainDisplay} from './display.js';
import {clear, formatDuration, formatMiB, formatPercent, formatRate, formatTime, h, uptimeOf} from './dom.js';
import {HistoryPanel} from './history.js';
import {SavedStatePanel} from './saved-state.js';
import {MigratePanel} from './migrate.js';
import {DomainNetPanel} from './domain-net.js';
import {historyOf, store, subscribe} from './store.js';
import {actionButtons, stateBadge} from './ui.js';

const MODE_NOTES = {
    full: 'Full virtualization: the guest is unmodified and sees emulated PC devices, so every ' +
          'device access (each UART byte, each disk register) is an exit to the VMM.',
    pv: 'Paravirtualization: the guest asks the hypervisor by hypercall and shares rings with ' +
        'it, so one exit moves a whole buffer or a batch of requests.',
};

function details(d) {
    const rows = [
        ['UUID', d.uuid],
        ['Driver', d.driver],
        ['Mode', d.mode],
        ['vCPUs', d.vcpus],
        ['Memory', formatMiB(d.memory_mib)],
        ['Kernel', d.kernel || '–'],
        ['Initrd', d.initrd || '–'],
        ['Command line', d.cmdline || '–'],
        ['Disk', d.disk || '–'],
        ['CPU set', d.cpuset || '–'],
        ['Network', d.network || '–'],
        ['Autostart', d.autostart ? 'yes' : 'no'],
        ['On crash', d.on_crash],
        ['CPU weight', d.cpu_weight ?? 100],
        ['CPU cap', d.cpu_cap ? `${d.cpu_cap}% of one host CPU` : 'none'],
        ['Memory limit', d.memory_limit ? formatMiB(d.memory_limit) : 'default'],
        ['State', `${d.state} (${d.reason})`],
        ['Process', d.pid ? d.pid : '–'],
        ['Created', formatTime(d.created_us)],
        ['Started', uptimeOf(d) !== null ? formatTime(d.started_us) : '–'],
    ];
    return h('dl.details', rows.map(([k, v]) => [h('dt', k), h('dd', String(v))]));
}

export class DomainPage {
    constructor(container, name) {
        this.name = name;
        this.signature = null;
        this.head = h('div.domain-head');
        this.info = h('div');
        this.now = h('div.cost', {'data-testid': 'cost'});
        this.charts = [cpuChart(), exitsByReasonChart(), exitsByDeviceChart()];
        this.recorded = new HistoryPanel({title: 'History', testid: 'history',
                                          load: range => api.domainHistory(name, range)});
        this.saved = new SavedStatePanel(name);
        this.migration = new MigratePanel(name);
        this.net = new DomainNetPanel(name);
        const consoleBox = h('div.console', {'data-testid': 'console'});
        clear(container).append(
            h('p', h('a', {href: '#/'}, '← All domains')),
            h('section.card', this.head),
            h('section.card', {'aria-labelledby': 'charts-title'},
                h('h2', {id: 'charts-title'}, 'Activity'),
                this.now,
                h('div.charts', this.charts.map(c => c.el))),
            this.recorded.el,
            this.saved.el,
            this.migration.el,
            this.net.el,
            h('section.card', {'aria-labelledby': 'console-title'},
                h('h2', {id: 'console-title'}, 'Console'),
                h('p.muted', 'Output appears as the guest writes it; typing here sends keys to the guest (changes need the API token).'),
                consoleBox),
            h('section.card', {'aria-labelledby': 'settings-title'},
                h('h2', {id: 'settings-title'}, 'Settings and state'), this.info));
        this.consoleBox = consoleBox;
        this.console = null; // opened once the domain is known to exist
        this.display = null; // kvm domains have a graphical console: made once known
        this.displaySlot = h('div');
        container.querySelector('[aria-labelledby="console-title"]').after(this.displaySlot);
        this.render();
        this.renderStats();
        this.unsubscribe = subscribe((kind, n, data) => this.changed(kind, n, data));
        this.ticker = setInterval(() => this.tick(), 1000);
    }

    changed(kind, name, data) {
        if (kind === 'domains')
            this.render();
        else if (kind === 'stats' && name === this.name)
            this.renderStats();
        else if (kind === 'console' && name === this.name && this.console)
            this.console.output(data);
        else if (kind === 'lifecycle' && name === this.name && data.message && this.console)
            this.console.output(`\r\n[hvd: ${data.state}: ${data.message}]\r\n`);
        if (kind === 'lifecycle' && name === this.name)
            this.migration.event(data);
    }

    render() {
        const d = store.domains.get(this.name);
        if (!d) {
            clear(this.head).append(h('h1', this.name));
            clear(this.info).append(h('p.muted', store.loaded ? 'There is no domain with this name (any more).' : 'Loading…'));
            this.signature = null;
            return;
        }
        if (!this.console)
            this.console = new DomainConsole(this.consoleBox, this.name);
        if (!this.display && d.driver === 'kvm') {
            this.display = new DomainDisplay(this.name);
            this.displaySlot.append(this.display.el);
        }
        const sig = JSON.stringify(d);
        if (sig === this.signature)
            return;
        this.signature = sig;
        document.title = `${d.name} – hvd`;
        clear(this.head).append(
            h('h1', d.name, ' ', stateBadge(d), ' ', h('span.mode', {'data-mode': d.mode}, d.mode)),
            actionButtons(d),
            h('p.muted', {'data-uptime': ''}, this.uptimeText(d)));
        clear(this.info).append(details(d));
        this.saved.render(d);
        this.migration.render(d);
        this.renderStats();
    }

    uptimeText(d) {
        const up = uptimeOf(d);
        return up === null ? `${d.state} since ${formatTime(d.state_changed_us)}` : `up ${formatDuration(up)}`;
    }

    renderStats() {
        const d = store.domains.get(this.name);
        const hist = historyOf(this.name);
        const waiting = !d || ['starting', 'running'].includes(d.state)
            ? 'Waiting for statistics (every 2 s while the domain runs)…'
            : `No statistics: the domain is ${d.state}.`;
        for (const c of this.charts)
            c.update(hist, waiting);
        const latest = hist && d && d.state === 'running' ? hist.latest : null;
        const top = latest ? Object.entries(latest.reasons)
            .filter(([k, v]) => k !== 'total' && v > 0).sort((a, b) => b[1] - a[1]).slice(0, 3) : [];
        clear(this.now).append(
            h('div.figures',
                h('div.figure', h('span.big', {'data-testid': 'exits-now'}, latest ? formatRate(latest.exits) : '–'),
                    h('span', 'exits/s', top.length ? ` (${top.map(([k, v]) => `${k} ${formatRate(v)}`).join(', ')})` : '')),
                h('div.figure', h('span.big', {'data-testid': 'cpu-now'}, latest ? formatPercent(latest.cpu) : '–'),
                    h('span', 'CPU'))),
            d ? h('p.mode-note', {'data-mode': d.mode}, MODE_NOTES[d.mode] || '') : null);
    }

    tick() {
        const d = store.domains.get(this.name);
        const el = this.head.querySelector('[data-uptime]');
        if (d && el)
            el.textContent = this.uptimeText(d);
    }

    destroy() {
        this.unsubscribe();
        clearInterval(this.ticker);
        for (const c of this.charts)
            c.destroy();
        this.recorded.destroy();
        this.net.destroy();
        if (this.console)
            this.console.dispose();
        if (this.display)
            this.display.dispose();
    }
}
