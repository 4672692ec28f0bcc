// What the page knows about hvd: domains, host, per-domain statistics history and console
// output. The event stream (GET /api/v1/events) drives every change; the domain list and host
// are fetched again after lifecycle events (debounced), never on a timer faster than 30 s.

import {api, getToken} from './api.js';

const HISTORY_POINTS = 150;      // 5 minutes of stats events at one per 2 s
const REFRESH_DEBOUNCE_MS = 150; // lifecycle events arriving together cause one fetch
// With thousands of domains a fetch of the list keeps the page busy for a while (100 ms for
// 10 000): the refreshes that events cause are then spaced so they take at most a fifth of it.
const REFRESH_BUSY_SHARE = 5;
const REFRESH_COST_MAX_MS = 1000; // a slow answer (a far hvd) spaces them 4 s apart at most
let refreshCostMs = 0;               // how long the last refresh took
const RESYNC_MS = 30000;         // a safety net only: the stream carries every change
const STREAM_RETRY_MS = 5000;    // after the stream ended for good (hvd restarted, ...)

export const store = {
    domains: new Map(), // name -> domain object as GET /api/v1/domains gives it
    host: null,
    loaded: false,
    connection: 'connecting',
    history: new Map(), // name -> History
    listeners: new Set(),
};

// Listeners are called as fn(kind, name, data) with kind one of: 'domains' (the list
// changed), 'host', 'stats' (name), 'console' (name, text), 'lifecycle' (name, event data),
// 'connection'.
export function subscribe(fn) {
    store.listeners.add(fn);
    return () => store.listeners.delete(fn);
}

function emit(kind, name, data) {
    for (const fn of [...store.listeners]) {
        try {
            fn(kind, name, data);
        } catch (err) {
            console.error('dashboard: a view failed to update:', err);
        }
    }
}

// Rates computed from two consecutive stats samples of one domain.
class History {
    constructor() {
        this.time = [];        // seconds (x axis)
        this.cpu = [];         // percent of one host CPU
        this.throttled = [];   // percent of the time the CPU cap held the vCPUs back (null: none)
        this.reasons = new Map(); // exit reason -> exits per second
        this.devices = new Map(); // device -> exits per second
        this.last = null;      // {t, stats}
        this.latest = null;    // {cpu, exits, reasons, devices} of the last interval
    }

    static push(series, key, length, value) {
        if (!series.has(key))
            series.set(key, new Array(length).fill(null));
        series.get(key).push(value);
    }

    add(timeUs, stats) {
        const t = timeUs / 1e6;
        const prev = this.last;
        this.last = {t, stats};
        if (!prev || t <= prev.t)
            return false;
        const dt = t - prev.t;
        const rate = (now, before) => (now >= before ? (now - before) / dt : null);
        const cpu = rate(stats.cpu_time_ns || 0, prev.stats.cpu_time_ns || 0);
        if (cpu === null) // the counters started again: a restart
            return false;
        const n = this.time.length;
        this.time.push(t);
        this.cpu.push(cpu / 1e7); // ns per s -> percent
        const throttled = stats.cpu_throttled_ns === undefined ? null
            : rate(stats.cpu_throttled_ns, prev.stats.cpu_throttled_ns ?? stats.cpu_throttled_ns);
        this.throttled.push(throttled === null ? null : throttled / 1e7);
        const latest = {cpu: cpu / 1e7, exits: null, reasons: {}, devices: {}};
        for (const [field, series, out] of [['exits_by_reason', this.reasons, latest.reasons],
                                            ['exits_by_device', this.devices, latest.devices]]) {
            const now = stats[field] || {}, before = prev.stats[field] || {};
            for (const key of Object.keys(now)) {
                const r = rate(now[key], before[key] ?? now[key]);
                History.push(series, key, n, r);
                out[key] = r;
            }
            for (const [key, values] of series)
                if (values.length === n)
                    values.push(null);
        }
        latest.exits = latest.reasons.total ?? null;
        this.latest = latest;
        if (this.time.length > HISTORY_POINTS) {
            const drop = this.time.length - HISTORY_POINTS;
            this.time.splice(0, drop);
            this.cpu.splice(0, drop);
            this.throttled.splice(0, drop);
            for (const values of [...this.reasons.values(), ...this.devices.values()])
                values.splice(0, drop);
        }
        return true;
    }
}

export function historyOf(name) {
    return store.history.get(name) || null;
}

let refreshTimer = null;
let refreshRunning = false;
let refreshAgain = false;

// Answers and lists can be older than events already applied (a shutdown answered "stopping"
// after the event said "shutoff"): the state with the later state_changed_us wins (hvd's clock;
// a state-changed event carries its transition's state_changed_us).
function merged(local, d) {
    if (local && (local.state_changed_us || 0) > (d.state_changed_us || 0))
        return {...d, state: local.state, reason: local.reason, pid: local.pid,
                state_changed_us: local.state_changed_us};
    return d;
}

// Whether a domain exists: each creation or deletion applied here gets a sequence number, and a
// list asked for before it does not undo it (the refresh that every change schedules brings
// the rest).
let changeSeq = 0;
const changedAt = new Map(); // name -> changeSeq of the last change applied to it
const deleted = new Set();   // names deleted by an event or an answer since the last refresh

function touch(name) {
    changedAt.set(name, ++changeSeq);
}

async function refresh() {
    if (refreshRunning) {
        refreshAgain = true;
        return;
    }
    refreshRunning = true;
    const t0 = performance.now();
    try {
        const asked = changeSeq;
        const [domains, host] = await Promise.all([api.domains(), api.host()]);
        const newer = name => (changedAt.get(name) || 0) > asked;
        const next = new Map();
        for (const d of domains) {
            if (newer(d.name) && deleted.has(d.name))
                continue;
            next.set(d.name, merged(store.domains.get(d.name), d));
        }
        for (const [name, local] of store.domains)
            if (!next.has(name) && newer(name))
                next.set(name, local); // created after the list was asked for
        for (const name of [...deleted])
            if (!newer(name))
                deleted.delete(name);
        for (const name of store.history.keys())
            if (!next.has(name))
                store.history.delete(name);
        store.domains = next;
        store.host = host;
        store.loaded = true;
        emit('domains');
        emit('host');
        refreshCostMs = Math.min(performance.now() - t0, REFRESH_COST_MAX_MS);
    } catch (err) {
        console.warn('dashboard: refresh failed:', err.message);
    } finally {
        refreshRunning = false;
        if (refreshAgain) {
            refreshAgain = false;
            scheduleRefresh();
        }
    }
}

// delay 0: at once (the page asked for it); otherwise debounced, longer for long lists.
export function scheduleRefresh(delay = REFRESH_DEBOUNCE_MS) {
    if (refreshTimer)
        return;
    if (delay > 0)
        delay = Math.max(delay, (REFRESH_BUSY_SHARE - 1) * refreshCostMs);
    refreshTimer = setTimeout(() => {
        refreshTimer = null;
        refresh();
    }, delay);
}

// Applies what an answer to an action or a create says about a domain at once (the
// lifecycle events confirm it).
export function updateDomain(d) {
    if (!d || !d.name)
        return;
    touch(d.name);
    deleted.delete(d.name);
    const local = store.domains.get(d.name);
    store.domains.set(d.name, merged(local, {...local, ...d}));
    emit('domains');
    scheduleRefresh();
}

export function forgetDomain(name) {
    touch(name);
    deleted.add(name);
    store.domains.delete(name);
    store.history.delete(name);
    emit('domains');
    scheduleRefresh();
}

function setConnection(state) {
    if (store.connection === state)
        return;
    store.connection = state;
    emit('connection');
}

function onLifecycle(ev) {
    const d = ev.domain ? store.domains.get(ev.domain) : null;
    if (ev.domain)
        touch(ev.domain);
    if (ev.domain && ev.event === 'deleted')
        deleted.add(ev.domain);
    else if (ev.domain && ev.event === 'created')
        deleted.delete(ev.domain);
    const changed = ev.state_changed_us || ev.time_us;
    if (d && ev.event === 'state-changed' && ev.state && changed > (d.state_changed_us || 0)) {
        d.state = ev.state;
        d.reason = ev.reason;
        d.state_changed_us = changed;
        d.pid = ev.pid || 0;
        emit('domains');
    }
    if (d && ev.event === 'deleted') {
        store.domains.delete(ev.domain);
        store.history.delete(ev.domain);
        emit('domains');
    }
    emit('lifecycle', ev.domain, ev);
    // A migration's progress changes no domain: no list to fetch again (10 000 of them, maybe).
    if (ev.event !== 'migration-progress')
        scheduleRefresh();
}

function onStats(ev) {
    if (!ev.domain || !ev.stats)
        return;
    let h = store.history.get(ev.domain);
    if (!h) {
        h = new History();
        store.history.set(ev.domain, h);
    }
    if (h.add(ev.time_us, ev.stats))
        emit('stats', ev.domain);
}

function parse(e) {
    try {
        return JSON.parse(e.data);
    } catch {
        return null;
    }
}

let source = null;
let retryTimer = null;

// The stream carries the token in its address (EventSource cannot send headers): hvd wants it
// for reads from beyond loopback.
function connect() {
    clearTimeout(retryTimer);
    if (source)
        source.close();
    const token = getToken();
    source = new EventSource(token ? `/api/v1/events?access_token=${token}` : '/api/v1/events');
    source.addEventListener('open', () => {
        setConnection('live');
        scheduleRefresh(0); // whatever was missed while away
    });
    source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED) {
            // The browser gave up (an error status): try again later with a new stream.
            setConnection('offline');
            retryTimer = setTimeout(connect, STREAM_RETRY_MS);
        } else {
            setConnection('reconnecting');
        }
    });
    source.addEventListener('lifecycle', e => {
        const ev = parse(e);
        if (ev)
            onLifecycle(ev);
    });
    source.addEventListener('stats', e => {
        const ev = parse(e);
        if (ev)
            onStats(ev);
    });
    source.addEventListener('console', e => {
        const ev = parse(e);
        // The dashboard's terminal is the serial console; a pv domain's virtio console (hvc0)
        // comes on the same stream, marked with its device.
        if (ev && ev.domain && typeof ev.data === 'string' && (!ev.device || ev.device === 'ttyS0'))
            emit('console', ev.domain, ev.data);
    });
}

export function start() {
    connect();
    // A token given after the stream was refused: connect again with it now.
    window.addEventListener('hvd-token', () => {
        if (source.readyState === EventSource.OPEN)
            return;
        connect();
        scheduleRefresh(0);
    });
    scheduleRefresh(0);
    setInterval(() => scheduleRefresh(0), RESYNC_MS);
}
