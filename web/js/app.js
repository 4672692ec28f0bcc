// The dashboard's entry point: takes a token handed over in the address, starts the event
// stream and shows the view the address names (#/ the overview, #/domains/NAME a domain,
// #/events the event log, #/networks the networks, #/cluster the cluster).

import {setTokenPrompt, takeTokenFromFragment} from './api.js';
import {ClusterPage} from './cluster.js';
import {DomainPage} from './domain.js';
import {EventLogPage} from './events.js';
import {NetworksPage} from './networks.js';
import {Overview} from './overview.js';
import {start, store, subscribe} from './store.js';
import {tokenButtonClicked, tokenDialog, updateTokenButton} from './ui.js';

const CONNECTION_TEXT = {
    connecting: 'connecting…',
    live: 'live',
    reconnecting: 'reconnecting…',
    offline: 'hvd unreachable',
};

let view = null;

function route() {
    const container = document.getElementById('view');
    if (view)
        view.destroy();
    const m = /^#\/domains\/([^/]+)$/.exec(location.hash);
    if (m) {
        view = new DomainPage(container, decodeURIComponent(m[1]));
    } else if (location.hash === '#/events') {
        view = new EventLogPage(container);
    } else if (location.hash === '#/networks') {
        view = new NetworksPage(container);
    } else if (location.hash === '#/cluster') {
        view = new ClusterPage(container);
    } else {
        document.title = 'hvd';
        view = new Overview(container);
    }
    window.scrollTo(0, 0);
}

function showConnection() {
    const el = document.getElementById('conn');
    el.dataset.state = store.connection;
    el.textContent = CONNECTION_TEXT[store.connection] || store.connection;
}

function main() {
    takeTokenFromFragment();
    setTokenPrompt(tokenDialog);
    updateTokenButton();
    document.getElementById('token-button').addEventListener('click', tokenButtonClicked);
    subscribe(kind => {
        if (kind === 'connection')
            showConnection();
    });
    window.addEventListener('hashchange', () => {
        if (takeTokenFromFragment())
            updateTokenButton();
        route();
    });
    route();
    start();
}

main();
