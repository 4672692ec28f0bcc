// Recorded statistics history (GET .../history?range=): a range switch (hour, day, month) and
// uPlot charts of CPU, memory, exits, disk and network, for a domain's page or the host.

import {LiveChart} from './charts.js';
import {formatMiB, formatPercent, formatRate, h} from './dom.js';

const RANGES = [['hour', 'Last hour'], ['day', 'Last day'], ['month', 'Last 30 days']];
const REFRESH_MS = {hour: 5000, day: 60000, month: 600000};

function formatBytesRate(v) {
    if (v === null || v === undefined || !isFinite(v))
        return '–';
    for (const [unit, size] of [['GB/s', 1e9], ['MB/s', 1e6], ['kB/s', 1e3]])
        if (v >= size)
            return `${(v / size).toFixed(1)} ${unit}`;
    return `${v.toFixed(0)} B/s`;
}

const mib = values => values.map(v => (v === null ? null : v / 1024));

// title: the card's heading; load(range) resolves to the history document; testid prefixes
// the charts' test ids.
export class HistoryPanel {
    constructor({title, load, testid}) {
        this.load = load;
        this.range = 'hour';
        this.timer = null;
        this.asked = 0;
        this.buttons = RANGES.map(([range, label]) => h('button.small.secondary', {
            type: 'button', dataset: {range}, 'aria-pressed': String(range === this.range),
            on: {click: () => this.show(range)},
        }, label));
        this.charts = [
            new LiveChart({title: 'CPU (% of one host CPU)', testid: `${testid}-cpu`, format: formatPercent,
                           select: hist => [['CPU', hist.cpu_percent]]}),
            new LiveChart({title: 'Memory (resident)', testid: `${testid}-memory`, format: v => formatMiB(Math.round(v)),
                           select: hist => [['memory', mib(hist.memory_kib)]]}),
            new LiveChart({title: 'Exits per second', testid: `${testid}-exits`, format: formatRate,
                           select: hist => [['total', hist.exits_per_s]]}),
            new LiveChart({title: 'Disk', testid: `${testid}-disk`, format: formatBytesRate,
                           select: hist => [['read', hist.disk_read_bytes_per_s], ['write', hist.disk_write_bytes_per_s]]}),
            new LiveChart({title: 'Network', testid: `${testid}-net`, format: formatBytesRate,
                           select: hist => [['received', hist.net_rx_bytes_per_s], ['sent', hist.net_tx_bytes_per_s]]}),
        ];
        this.status = h('p.muted', {'data-testid': `${testid}-status`});
        this.el = h('section.card', {'data-testid': testid},
            h('h2', title),
            h('div.range-switch', {role: 'group', 'aria-label': 'Range'}, this.buttons),
            this.status,
            h('div.charts', this.charts.map(c => c.el)));
        this.show('hour');
    }

    show(range) {
        this.range = range;
        for (const b of this.buttons)
            b.setAttribute('aria-pressed', String(b.dataset.range === range));
        clearInterval(this.timer);
        this.timer = setInterval(() => this.refresh(), REFRESH_MS[range]);
        this.refresh();
    }

    async refresh() {
        const asked = ++this.asked, range = this.range;
        let hist;
        try {
            hist = await this.load(range);
        } catch (err) {
            if (asked === this.asked)
                this.status.textContent = `The history cannot be read: ${err.message}`;
            return;
        }
        if (asked !== this.asked)
            return; // a newer range was asked for meanwhile
        const points = hist.time.filter((t, i) => hist.cpu_percent[i] !== null).length;
        this.status.textContent = points
            ? `${points} points, one every ${hist.step_s >= 60 ? `${hist.step_s / 60} min` : `${hist.step_s} s`}.`
            : 'Nothing recorded in this range yet: hvd samples running domains once a second.';
        this.el.dataset.range = hist.range;
        this.el.dataset.points = String(points);
        for (const c of this.charts)
            c.update(hist, 'Nothing recorded yet.');
    }

    destroy() {
        clearInterval(this.timer);
        this.asked++;
        for (const c of this.charts)
            c.destroy();
    }
}
