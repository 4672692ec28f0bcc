// Small helpers to build DOM nodes and format values for people.

// h('tag.class1.class2', {attributes, on: {event: fn}}, ...children): a new element.
export function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag || 'div');
    if (classes.length)
        el.className = classes.join(' ');
    if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
        children.unshift(attrs);
        attrs = null;
    }
    for (const [key, value] of Object.entries(attrs || {})) {
        if (value === undefined || value === null || value === false)
            continue;
        if (key === 'on')
            for (const [event, fn] of Object.entries(value))
                el.addEventListener(event, fn);
        else if (key === 'dataset')
            Object.assign(el.dataset, value);
        else if (key === 'text')
            el.textContent = value;
        else if (key === 'value' || key === 'checked' || key === 'disabled')
            el[key] = value;
        else
            el.setAttribute(key, value === true ? '' : value);
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === undefined || c === null || c === false)
            continue;
        if (Array.isArray(c))
            append(el, c);
        else
            el.append(c instanceof Node ? c : String(c));
    }
}

export function clear(el) {
    while (el.firstChild)
        el.firstChild.remove();
    return el;
}

export function formatMiB(mib) {
    if (mib === null || mib === undefined)
        return '–';
    if (mib >= 1024 * 1024)
        return `${(mib / (1024 * 1024)).toFixed(1)} TiB`;
    if (mib >= 10240)
        return `${(mib / 1024).toFixed(1)} GiB`;
    return `${mib} MiB`;
}

// "3 d 4 h", "2 h 5 min", "4 min 10 s", "12 s"
export function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds) || seconds < 0)
        return '–';
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600);
    const min = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d)
        return `${d} d ${hr} h`;
    if (hr)
        return `${hr} h ${min} min`;
    if (min)
        return `${min} min ${sec} s`;
    return `${sec} s`;
}

// Seconds a domain has been up, from its started_us, or null when it is not up.
export function uptimeOf(d) {
    if (!d || !d.started_us || !['running', 'paused', 'stopping'].includes(d.state))
        return null;
    return Math.max(0, Date.now() / 1000 - d.started_us / 1e6);
}

export function formatRate(value) {
    if (value === null || value === undefined || !isFinite(value))
        return '–';
    if (value >= 1e6)
        return `${(value / 1e6).toFixed(1)} M`;
    if (value >= 1e4)
        return `${(value / 1e3).toFixed(1)} k`;
    if (value >= 100)
        return value.toFixed(0);
    return value.toFixed(1);
}

export function formatPercent(value) {
    if (value === null || value === undefined || !isFinite(value))
        return '–';
    return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} %`;
}

export function formatTime(us) {
    if (!us)
        return '–';
    return new Date(us / 1000).toLocaleString();
}
