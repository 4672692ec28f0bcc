// Live line charts (uPlot) of one domain's statistics history: CPU and throttled time, exits per second by
// reason and by device. A series shows once it has been non-zero.

import uPlot from '../vendor/uPlot.esm.js';
import {formatPercent, formatRate, h} from './dom.js';

const COLORS = {
    total: '#4a4a4a',
    io: '#1f77b4',
    mmio: '#ff7f0e',
    hlt: '#2ca02c',
    intr: '#9467bd',
    shutdown: '#8c564b',
    'system-event': '#e377c2',
    'internal-error': '#d62728',
    'fail-entry': '#d62728',
    other: '#7f7f7f',
    uart: '#1f77b4',
    ata: '#ff7f0e',
    rtc: '#bcbd22',
    power: '#8c564b',
    'hypercall:console': '#2ca02c',
    'hypercall:block': '#17becf',
    'hypercall:poll': '#9467bd',
    'hypercall:power': '#8c564b',
    'hypercall:vcpu': '#e377c2',
};
const SPARE = ['#17becf', '#bcbd22', '#e377c2', '#7f7f7f', '#393b79', '#637939', '#8c6d31'];

function colorOf(key, index) {
    return COLORS[key] || SPARE[index % SPARE.length];
}

export class LiveChart {
    // select(history) returns [[label, values], ...] in display order.
    constructor({title, select, format, testid}) {
        this.title = title;
        this.select = select;
        this.format = format;
        this.plot = null;
        this.keys = '';
        this.empty = h('p.chart-empty.muted', 'Waiting for statistics (every 2 s while the domain runs)…');
        this.box = h('div.chart-plot');
        this.hovering = false;
        this.box.addEventListener('mouseenter', () => { this.hovering = true; });
        this.box.addEventListener('mouseleave', () => {
            this.hovering = false;
            this.showLatest();
        });
        this.el = h('figure.chart', {'data-testid': testid},
            h('figcaption', title), this.box, this.empty);
        this.resizer = new ResizeObserver(() => this.resize());
        this.resizer.observe(this.el);
    }

    width() {
        return Math.max(240, Math.floor(this.el.clientWidth || 480));
    }

    resize() {
        if (this.plot && Math.abs(this.plot.width - this.width()) > 2)
            this.plot.setSize({width: this.width(), height: 180});
    }

    update(history, emptyText) {
        if (emptyText)
            this.empty.textContent = emptyText;
        const series = history ? this.select(history) : [];
        const hasData = history && history.time.length > 1 && series.length > 0; // a line needs two points
        this.empty.hidden = hasData;
        this.box.hidden = !hasData;
        if (!hasData)
            return;
        const keys = series.map(([label]) => label).join('\n');
        const data = [history.time.slice(), ...series.map(([, values]) => values.slice())];
        if (this.plot && keys === this.keys) {
            this.plot.setData(data);
            this.showLatest();
            return;
        }
        this.destroyPlot();
        this.keys = keys;
        const fmt = this.format;
        this.plot = new uPlot({
            width: this.width(),
            height: 180,
            cursor: {drag: {x: false, y: false}},
            // at least a minute wide, so that the first points do not fill the whole width
            scales: {
                x: {time: true, range: (u, min, max) => [Math.min(min, max - 60), max]},
                y: {range: (u, min, max) => [0, Math.max(max * 1.1, 1)]},
            },
            series: [
                {},
                ...series.map(([label], i) => ({
                    label,
                    stroke: colorOf(label, i),
                    width: label === 'total' ? 2 : 1.5,
                    dash: label === 'total' ? [6, 4] : undefined,
                    spanGaps: false,
                    points: {show: false},
                    value: (u, v) => (v === null || v === undefined ? '–' : fmt(v)),
                })),
            ],
            axes: [{}, {size: 56, values: (u, vals) => vals.map(v => fmt(v))}],
            hooks: {ready: [u => this.showLatest(u)]},
        }, data, this.box);
        this.showLatest();
    }

    // The legend shows the newest values unless the pointer picks a moment.
    showLatest(plot = this.plot) {
        if (plot && !this.hovering && plot.data && plot.data[0].length)
            plot.setLegend({idx: plot.data[0].length - 1});
    }

    destroyPlot() {
        if (this.plot) {
            this.plot.destroy();
            this.plot = null;
        }
    }

    destroy() {
        this.resizer.disconnect();
        this.destroyPlot();
    }
}

// Series of a counter map that have been non-zero, 'total' first.
function nonZero(map) {
    const out = [];
    for (const [key, values] of map)
        if (values.some(v => v))
            out.push([key, values]);
    out.sort(([a], [b]) => (a === 'total' ? -1 : b === 'total' ? 1 : a.localeCompare(b)));
    return out;
}

export function cpuChart() {
    return new LiveChart({
        title: 'CPU (% of one host CPU; throttled: % of the time the cap held it back)',
        testid: 'chart-cpu',
        select: hist => [['CPU', hist.cpu],
                         ...(hist.throttled.some(v => v !== null) ? [['throttled', hist.throttled]] : [])],
        format: formatPercent,
    });
}

export function exitsByReasonChart() {
    return new LiveChart({
        title: 'Exits per second, by reason',
        testid: 'chart-exits-reason',
        select: hist => nonZero(hist.reasons),
        format: formatRate,
    });
}

export function exitsByDeviceChart() {
    return new LiveChart({
        title: 'Exits per second, by device',
        testid: 'chart-exits-device',
        select: hist => nonZero(hist.devices),
        format: formatRate,
    });
}
