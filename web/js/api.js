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

export function setToken(token) {
    if (token)
        sessionStorage.setItem(TOKEN_KEY, token);
    else
        sessionStorage.removeItem(TOKEN_KEY);
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
let askToken = async () => null;

export function setTokenPrompt(prompt) {
    askToken = prompt;
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

// One API call. A change without a valid token asks for one (again after a 401 or 403), then
// retries; reads never prompt.
export async function request(method, path, body) {
    const mutates = method !== 'GET' && method !== 'HEAD';
    let reason = null;
    for (let attempt = 0; attempt < 3; attempt++) {
        if (mutates && !getToken()) {
            const token = await askToken(reason);
            if (!token)
                throw new ApiError(401, {detail: 'no API token was given: the change was not made'});
            setToken(token);
        }
        try {
            return await send(method, path, body);
        } catch (err) {
            if (!mutates || !(err instanceof ApiError) || (err.status !== 401 && err.status !== 403))
                throw err;
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
    consoleTail: (name, bytes) => request('GET', `/api/v1/domains/${enc(name)}/console?bytes=${bytes}`),
    consoleType: (name, data) => request('POST', `/api/v1/domains/${enc(name)}/console`, {data}),
};
