// Calls to hvd's HTTP API: JSON both ways, the bearer token on every call once known, and
// problem documents (application/problem+json) turned into ApiError with the server's detail.

const TOKEN_KEY = 'hvd-token';

export class ApiError extends Error {
    constructor(status, problem) {
        const detail = (problem && (problem.detail || problem.title)) || `HTTP status ${status}`;
        super(detail);
        this.name = 'ApiError';
        this.status = status;
        this.detail = detail;
        this.kind = problem ? problem.kind : undefined;
    }
}

export function getToken() {
    return sessionStorage.getItem(TOKEN_KEY);
}

// Keeps (or, with null, forgets) the token for this tab; a new one is announced to the page
// as the window event 'hvd-token' (the event stream reconnects with it).
export function setToken(token) {
    if (token) {
        sessionStorage.setItem(TOKEN_KEY, token);
        window.dispatchEvent(new Event('hvd-token'));
    } else {
        sessionStorage.removeItem(TOKEN_KEY);
    }
}

// Takes a token handed over in the address (#token=...), keeps it for this tab and removes it
// from the address bar and the history. Returns whether there was one.
export function takeTokenFromFragment() {
    const m = /^#token=([0-9A-Fa-f]+)(?:&(.*))?$/.exec(location.hash);
    if (!m)
        return false;
    setToken(m[1].toLowerCase());
    const rest = m[2] ? `#${m[2]}` : '#/';
    history.replaceState(null, '', location.pathname + location.search + rest);
    return true;
}

// Asks the user for a token (set by the page: a dialog); resolves to the token or null.
// Calls made together share one prompt.
let askToken = async () => null;
let asking = null;

export function setTokenPrompt(prompt) {
    askToken = prompt;
}

// Asks the user for the token once for whoever needs it (the display, which cannot go
// through request()); resolves to the token or null.
export function askForToken(reason) {
    return ask(reason);
}

function ask(reason) {
    if (!asking)
        asking = askToken(reason).finally(() => {
            asking = null;
        });
    return asking;
}

async function send(method, path, body) {
    const headers = {Accept: 'application/json'};
    const token = getToken();
    if (token)
        headers.Authorization = `Bearer ${token}`;
    const init = {method, headers, cache: 'no-store'};
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    let resp;
    try {
        resp = await fetch(path, init);
    } catch (err) {
        throw new ApiError(0, {detail: `hvd cannot be reached (${err.message})`});
    }
    const type = resp.headers.get('Content-Type') || '';
    let value = null;
    if (resp.status !== 204) {
        const text = await resp.text();
        value = type.includes('json') && text ? JSON.parse(text) : text;
    }
    if (!resp.ok)
        throw new ApiError(resp.status, typeof value === 'object' ? value : {detail: value});
    return value;
}

// One API call. A change without a token asks for one first; any call refused for its token
// (401 or 403: hvd wants one for reads from beyond loopback too) asks again, then retries.
// tokenStatuses narrows which statuses mean this hvd's token (a migration's 403 is the
// target's refusal of its own token).
export async function request(method, path, body, {tokenStatuses = [401, 403]} = {}) {
    const mutates = method !== 'GET' && method !== 'HEAD';
    let reason = null;
    for (let attempt = 0; attempt < 3; attempt++) {
        if (!getToken() && (mutates || reason)) {
            const token = await ask(reason);
            if (!token)
                throw new ApiError(401, {detail: mutates ? 'no API token was given: the change was not made'
                                                         : 'no API token was given: hvd answers from beyond loopback only with one'});
            setToken(token);
        }
        const used = getToken();
        try {
            return await send(method, path, body);
        } catch (err) {
            if (!(err instanceof ApiError) || !tokenStatuses.includes(err.status))
                throw err;
            if (getToken() === used) // not already replaced by a call made at the same time
                setToken(null);
            reason = err.detail;
        }
    }
    throw new ApiError(403, {detail: reason || 'the API token was refused'});
}

const enc = encodeURIComponent;

export const api = {
    domains: () => request('GET', '/api/v1/domains'),
    domain: name => request('GET', `/api/v1/domains/${enc(name)}`),
    create: settings => request('POST', '/api/v1/domains', settings),
    remove: name => request('DELETE', `/api/v1/domains/${enc(name)}`),
    action: (name, action) => request('POST', `/api/v1/domains/${enc(name)}/actions/${enc(action)}`),
    host: () => request('GET', '/api/v1/host'),
    domainHistory: (name, range) => request('GET', `/api/v1/domains/${enc(name)}/history?range=${enc(range)}`),
    hostHistory: range => request('GET', `/api/v1/host/history?range=${enc(range)}`),
    consoleTail: (name, bytes) => request('GET', `/api/v1/domains/${enc(name)}/console?bytes=${bytes}`),
    // The event log: query is {since, domain, kind, limit}; empty values are left out.
    eventLog: query => request('GET', `/api/v1/events/log?${new URLSearchParams(
        Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ''))}`),
    consoleType: (name, data) => request('POST', `/api/v1/domains/${enc(name)}/console`, {data}),
    // Saved state (disks are referenced, not copied).
    save: name => request('POST', `/api/v1/domains/${enc(name)}/actions/save`),
    startFresh: name => request('POST', `/api/v1/domains/${enc(name)}/actions/start`, {fresh: true}),
    snapshots: name => request('GET', `/api/v1/domains/${enc(name)}/snapshots`),
    snapshotCreate: (name, snap) => request('POST', `/api/v1/domains/${enc(name)}/snapshots`, {name: snap}),
    snapshotRevert: (name, snap) => request('POST', `/api/v1/domains/${enc(name)}/snapshots/${enc(snap)}/revert`),
    snapshotDelete: (name, snap) => request('DELETE', `/api/v1/domains/${enc(name)}/snapshots/${enc(snap)}`),
    clone: (name, body) => request('POST', `/api/v1/domains/${enc(name)}/clone`, body),
    // hvd networks
    networks: () => request('GET', '/api/v1/networks'),
    network: name => request('GET', `/api/v1/networks/${enc(name)}`),
    networkCreate: settings => request('POST', '/api/v1/networks', settings),
    networkRemove: name => request('DELETE', `/api/v1/networks/${enc(name)}`),
    // the cluster this hvd belongs to (409 when none)
    clusterHosts: () => request('GET', '/api/v1/cluster/hosts'),
    clusterDomains: () => request('GET', '/api/v1/cluster/domains'),
    // live migration: answered when it ends (progress comes on the event stream)
    migrate: (name, body) => request('POST', `/api/v1/domains/${enc(name)}/actions/migrate`, body,
                                     {tokenStatuses: [401]}),
    migrateCancel: name => request('POST', `/api/v1/domains/${enc(name)}/actions/migrate-cancel`),
};
