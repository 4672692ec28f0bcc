// Shared pieces of the page: the confirmation and token dialogs, notices, state badges and the
// action buttons allowed in each state.

import {api, getToken, setToken} from './api.js';
import {h} from './dom.js';
import {forgetDomain, updateDomain} from './store.js';

// Which actions each state allows (hvd refuses the others with 409); destructive ones confirm.
const ACTIONS = [
    {action: 'start', label: 'Start', states: ['shutoff']},
    {action: 'shutdown', label: 'Shut down', states: ['running'],
     title: 'Ask the guest to power off'},
    {action: 'reboot', label: 'Reboot', states: ['running']},
    {action: 'pause', label: 'Pause', states: ['running']},
    {action: 'resume', label: 'Resume', states: ['paused']},
    {action: 'destroy', label: 'Force off', states: ['starting', 'running', 'paused', 'stopping', 'crashed'],
     danger: true, title: 'Stop the domain at once (destroy)',
     confirm: name => `Force ${name} off? It stops at once, as if unplugged: whatever the guest ` +
                      'has not written out is lost.'},
    {action: 'delete', label: 'Delete', states: ['shutoff'], danger: true,
     title: 'Remove the domain from hvd',
     confirm: name => `Delete ${name}? Its definition is removed from hvd; this cannot be undone.`},
];

export function stateBadge(d) {
    const text = d.state || 'unknown';
    return h('span.badge', {
        'data-state': text,
        title: d.reason ? `${text} (${d.reason})` : text,
        'data-testid': 'state',
    }, text);
}

export function notify(message, kind = 'info') {
    const box = document.getElementById('toasts');
    const close = h('button.link', {type: 'button', 'aria-label': 'Dismiss'}, '×');
    const toast = h(`div.toast.${kind}`, {role: kind === 'error' ? 'alert' : 'status'},
                    h('span', message), close);
    close.addEventListener('click', () => toast.remove());
    box.append(toast);
    setTimeout(() => toast.remove(), kind === 'error' ? 15000 : 5000);
    return toast;
}

// Resolves true when the user confirms.
export function confirmDialog(title, text, okLabel) {
    const dialog = document.getElementById('confirm-dialog');
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-text').textContent = text;
    document.getElementById('confirm-ok').textContent = okLabel;
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise(resolve => {
        dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
    });
}

// The "paste the token" prompt; reason says why the last one did not do.
export function tokenDialog(reason) {
    const dialog = document.getElementById('token-dialog');
    const input = document.getElementById('token-input');
    const error = document.getElementById('token-error');
    error.hidden = !reason;
    error.textContent = reason || '';
    input.value = '';
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise(resolve => {
        dialog.addEventListener('close', () => {
            const token = input.value.trim().toLowerCase();
            resolve(dialog.returnValue === 'ok' && token ? token : null);
            updateTokenButton();
        }, {once: true});
    });
}

export function updateTokenButton() {
    const button = document.getElementById('token-button');
    button.textContent = getToken() ? 'Forget token' : 'Enter token';
    button.title = getToken() ? 'Changes are sent with the API token from this tab'
                              : 'Changes need hvd\'s API token';
}

export async function tokenButtonClicked() {
    if (getToken()) {
        setToken(null);
        notify('The API token is forgotten for this tab.');
    } else {
        const token = await tokenDialog(null);
        if (token)
            setToken(token);
    }
    updateTokenButton();
}

async function runAction(d, spec, button) {
    if (spec.confirm && !(await confirmDialog(`${spec.label}: ${d.name}`, spec.confirm(d.name), spec.label)))
        return;
    button.disabled = true;
    button.classList.add('busy');
    try {
        if (spec.action === 'delete') {
            await api.remove(d.name);
            forgetDomain(d.name);
            notify(`${d.name} deleted.`);
        } else {
            updateDomain(await api.action(d.name, spec.action));
        }
    } catch (err) {
        notify(`${d.name}: ${spec.label.toLowerCase()} failed: ${err.detail || err.message}`, 'error');
    } finally {
        updateTokenButton();
        button.disabled = false;
        button.classList.remove('busy');
    }
}

// The buttons for what d's state allows.
export function actionButtons(d, {compact = false} = {}) {
    const box = h('div.actions', {role: 'group', 'aria-label': `Actions for ${d.name}`});
    for (const spec of ACTIONS) {
        if (!spec.states.includes(d.state))
            continue;
        const button = h(`button${spec.danger ? '.danger' : ''}${compact ? '.small' : ''}`, {
            type: 'button',
            title: spec.title,
            'data-action': spec.action,
        }, spec.label);
        button.addEventListener('click', () => runAction(d, spec, button));
        box.append(button);
    }
    return box;
}
