// A kvm domain's graphical console (its VGA screen) in the page: noVNC speaking RFB over hvd's
// WebSocket at /api/v1/domains/NAME/vnc. Keyboard and mouse reach the guest, so the display
// needs the API token (passed as ?access_token=, since a browser's WebSocket sends no headers).

import RFB from '../vendor/novnc/core/rfb.js';
import {askForToken, getToken, setToken} from './api.js';
import {clear, h} from './dom.js';

const enc = encodeURIComponent;

export class DomainDisplay {
    constructor(name) {
        this.name = name;
        this.rfb = null;
        this.status = h('p.muted', {'data-testid': 'display-status', role: 'status'},
            'The display is closed.');
        this.openButton = h('button', {type: 'button', 'data-testid': 'display-open',
                                       on: {click: () => this.open()}}, 'Open display');
        this.closeButton = h('button', {type: 'button', 'data-testid': 'display-close', disabled: true,
                                        on: {click: () => this.close('closed')}}, 'Close');
        this.cadButton = h('button', {type: 'button', title: 'Send Ctrl+Alt+Del to the guest', disabled: true,
                                      on: {click: () => this.rfb && this.rfb.sendCtrlAltDel()}}, 'Ctrl+Alt+Del');
        this.screen = h('div.display-screen', {'data-testid': 'display'});
        this.el = h('section.card', {'aria-labelledby': 'display-title', 'data-testid': 'display-card'},
            h('h2', {id: 'display-title'}, 'Display'),
            h('p.muted', 'The guest\'s screen over VNC; while it is open, keys and the mouse go to the guest.'),
            h('div.actions', this.openButton, this.closeButton, this.cadButton),
            this.status,
            this.screen);
    }

    setStatus(text, state) {
        this.status.textContent = text;
        this.status.dataset.state = state;
    }

    // A browser does not tell why a WebSocket was refused. A plain GET of the endpoint is
    // answered with the reason (no token, not running, no display), or 426 when a WebSocket
    // would have been accepted: asked after a failed connection, it says what to say.
    async diagnose(token) {
        const resp = await fetch(`/api/v1/domains/${enc(this.name)}/vnc`,
            {headers: {Authorization: `Bearer ${token}`}, cache: 'no-store'});
        if (resp.status === 426)
            return null;
        let detail = `HTTP ${resp.status}`;
        try {
            detail = (await resp.json()).detail || detail;
        } catch {
            // not a problem document
        }
        return {status: resp.status, detail};
    }

    async open() {
        if (this.rfb)
            return;
        let token = getToken();
        if (!token) {
            token = await askForToken('The display sends keys and the mouse to the guest: it needs the API token.');
            if (!token) {
                this.setStatus('No API token was given: the display stays closed.', 'error');
                return;
            }
            setToken(token);
        }
        this.openButton.disabled = true;
        this.setStatus('Connecting…', 'connecting');
        const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const url = `${scheme}//${location.host}/api/v1/domains/${enc(this.name)}/vnc?access_token=${enc(token)}`;
        clear(this.screen);
        const rfb = new RFB(this.screen, url, {wsProtocols: ['binary']});
        rfb.scaleViewport = false;
        rfb.resizeSession = false;
        rfb.focusOnClick = true;
        let connected = false;
        rfb.addEventListener('connect', () => {
            connected = true;
            const canvas = this.screen.querySelector('canvas');
            this.setStatus(`Connected${canvas ? ` (${canvas.width}×${canvas.height})` : ''}.`, 'connected');
            this.cadButton.disabled = false;
        });
        rfb.addEventListener('desktopname', e => {
            this.screen.dataset.desktop = e.detail.name;
        });
        rfb.addEventListener('disconnect', async e => {
            if (this.rfb !== rfb)
                return;
            if (connected) {
                this.closed(e.detail.clean ? 'the display closed (the domain stopped?)' : 'the connection to the display was lost');
                return;
            }
            this.rfb = null;
            const problem = await this.diagnose(token).catch(err => ({detail: err.message}));
            if (problem && problem.status === 401)
                setToken(null);
            this.closed(problem ? `it cannot be opened: ${problem.detail}` : 'the connection to it failed');
            this.status.dataset.state = 'error';
        });
        this.rfb = rfb;
        this.closeButton.disabled = false;
    }

    closed(why) {
        this.rfb = null;
        this.setStatus(`The display is closed: ${why}.`, 'closed');
        this.openButton.disabled = false;
        this.closeButton.disabled = true;
        this.cadButton.disabled = true;
    }

    close(why) {
        const rfb = this.rfb;
        if (!rfb)
            return;
        this.closed(why);
        rfb.disconnect();
    }

    dispose() {
        this.close('the page was left');
    }
}
