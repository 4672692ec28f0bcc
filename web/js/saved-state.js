// A domain page's saved state: Save, Snapshot and Clone buttons and its snapshots (time, size,
// contents) with Revert, Clone and Delete. Images hold memory, vCPU and device state; disks are
// referenced, not copied.

import {api} from './api.js';
import {clear, formatTime, h} from './dom.js';
import {scheduleRefresh, updateDomain} from './store.js';
import {confirmDialog, notify, updateTokenButton} from './ui.js';

const DISKS_NOTE = 'Images hold memory, vCPU and device state; disks are referenced, not copied ' +
    '(a kvm domain\'s qcow2 disk is copied with each snapshot).';

export class SavedStatePanel {
    constructor(name) {
        this.name = name;
        this.buttons = h('div.actions', {role: 'group', 'aria-label': `Saved state of ${name}`});
        this.list = h('div', {'data-testid': 'snapshots'});
        this.el = h('section.card', {'aria-labelledby': 'saved-title'},
            h('h2', {id: 'saved-title'}, 'Saved state and snapshots'),
            h('p.muted', DISKS_NOTE), this.buttons, this.list);
        this.loaded = false;
    }

    // Shows the buttons d's state allows, and the list the first time.
    render(d) {
        const active = ['running', 'paused'].includes(d.state);
        clear(this.buttons).append(...[
            active ? this.button('Save', 'save', 'Save the state and shut the domain off; Start resumes it',
                                 () => api.save(this.name).then(updateDomain)) : null,
            active ? this.button('Snapshot', 'snapshot', 'Take a named snapshot; the domain goes on',
                                 () => this.snapshot()) : null,
            this.button('Clone', 'clone', 'Define a clone of this domain (shut off)',
                        () => this.clone(null)),
            d.state === 'shutoff' && d.reason === 'saved'
                ? this.button('Start afresh', 'start-fresh', 'Discard the saved state and boot anew',
                              () => api.startFresh(this.name).then(updateDomain)) : null,
        ].filter(Boolean));
        // The list changes with this panel's own actions (each reloads it): asked for once here,
        // not at every state change, which may be the domain going away.
        if (!this.loaded) {
            this.loaded = true;
            this.load();
        }
    }

    button(label, action, title, run) {
        const b = h('button.small', {type: 'button', title, 'data-saved-action': action}, label);
        b.addEventListener('click', async () => {
            b.disabled = true;
            try {
                await run();
            } catch (err) {
                notify(`${this.name}: ${label.toLowerCase()} failed: ${err.detail || err.message}`, 'error');
            } finally {
                b.disabled = false;
                updateTokenButton();
                this.load();
            }
        });
        return b;
    }

    async snapshot() {
        const snap = prompt(`Name of the new snapshot of ${this.name}:`);
        if (!snap)
            return;
        await api.snapshotCreate(this.name, snap);
        notify(`Snapshot ${snap} of ${this.name} taken (its disk is referenced, not copied).`);
    }

    async clone(snap) {
        const name = prompt(`Name of the clone of ${this.name}${snap ? ` from ${snap}` : ''}:`);
        if (!name)
            return;
        const body = {name};
        if (snap)
            body.snapshot = snap;
        const result = await api.clone(this.name, body);
        scheduleRefresh(0);
        notify(`${result.clones.join(', ')} cloned from ${this.name}${snap ? ` (running from ${snap})` : ''}.`);
    }

    async load() {
        let snaps;
        try {
            snaps = (await api.snapshots(this.name)).snapshots;
        } catch (err) {
            clear(this.list).append(h('p.muted', `Snapshots cannot be listed: ${err.detail || err.message}`));
            return;
        }
        if (!snaps.length) {
            clear(this.list).append(h('p.muted', 'No snapshots.'));
            return;
        }
        clear(this.list).append(h('table',
            h('thead', h('tr', ['Name', 'Taken', 'Size', 'Contains', 'Disk', ''].map(t => h('th', t)))),
            h('tbody', snaps.map(s => h('tr', {'data-snapshot': s.name},
                h('td', s.name), h('td', formatTime(s.created_us)),
                h('td', `${(s.size_bytes / 1048576).toFixed(1)} MiB`), h('td', s.contents),
                h('td', s.disk ? `${s.disk} (${s.disks || 'referenced, not copied'})` : 'none'),
                h('td',
                    this.button('Revert', 'revert', 'Run the domain from this snapshot',
                                () => api.snapshotRevert(this.name, s.name).then(updateDomain)),
                    this.button('Clone', 'clone-snapshot', 'Start a clone from this snapshot',
                                () => this.clone(s.name)),
                    this.button('Delete', 'delete-snapshot', 'Delete this snapshot', async () => {
                        if (await confirmDialog(`Delete snapshot ${s.name}`,
                                                `Delete snapshot ${s.name} of ${this.name}?`, 'Delete'))
                            await api.snapshotDelete(this.name, s.name);
                    })))))));
    }
}
