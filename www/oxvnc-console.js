// <oxvnc-console>: the oxvnc VNC console as one HTML tag.
//
//   <script type="module" src="oxvnc-console.js"></script>
//   <oxvnc-console url="ws://relay:6080/websockify?token=vm1" resize="scale" view-only></oxvnc-console>
//
// Attributes mirror the options of `new Console(element, url, options)`: url, view-only, shared
// (default on; shared="false" asks for exclusive access), resize (off|scale|remote), quality
// (0-9), compression (0-9), lossless, show-dot-cursor, username, password, tls-ca (PEM text of
// the VNC server's CA certificate), tls-fingerprint (its certificate's SHA-256). Changing one
// reconnects. The console's events (connect, disconnect, credentialsrequired, securityfailure,
// serververification, clipboard, bell, desktopname, resize, capabilities, notice) are
// CustomEvents dispatched on the element itself and bubble. The element's methods are those of
// Console: disconnect(), connect(), sendCredentials(), sendKey(), sendCtrlAltDel(),
// clipboardPaste(), focus(), blur(), toBlob(), toDataURL(), machineShutdown(), machineReboot(),
// machineReset(); `console` is the Console itself (null while not connected).

import init, { Console } from "./pkg/oxvnc_client.js";

let loading = null;

/** Loads the wasm module once per page (every element shares it). */
function load() {
    if (!loading) {
        loading = init();
    }
    return loading;
}

const ATTRIBUTES = [
    "url",
    "view-only",
    "shared",
    "resize",
    "quality",
    "compression",
    "lossless",
    "show-dot-cursor",
    "username",
    "password",
    "tls-ca",
    "tls-fingerprint",
];

/** A boolean attribute: present (and not "false", "0", "no" or "off") means true. */
function flag(el, name) {
    if (!el.hasAttribute(name)) {
        return undefined;
    }
    const v = el.getAttribute(name).trim().toLowerCase();
    return !["false", "0", "no", "off"].includes(v);
}

function level(el, name) {
    const v = el.getAttribute(name);
    return v === null || v.trim() === "" ? undefined : Number(v);
}

export class OxvncConsole extends HTMLElement {
    static get observedAttributes() {
        return ATTRIBUTES;
    }

    constructor() {
        super();
        this._console = null;
        this._generation = 0;
        this._pending = false;
    }

    /** The options object the attributes describe. */
    get options() {
        const options = {
            viewOnly: flag(this, "view-only") ?? false,
            resize: this.getAttribute("resize") || "off",
            lossless: flag(this, "lossless") ?? false,
            showDotCursor: flag(this, "show-dot-cursor") ?? false,
        };
        const shared = flag(this, "shared");
        if (shared !== undefined) {
            options.shared = shared;
        }
        const quality = level(this, "quality");
        if (quality !== undefined) {
            options.quality = quality;
        }
        const compression = level(this, "compression");
        if (compression !== undefined) {
            options.compression = compression;
        }
        if (this.hasAttribute("tls-ca")) {
            options.tlsCa = this.getAttribute("tls-ca");
        }
        if (this.hasAttribute("tls-fingerprint")) {
            options.tlsFingerprint = this.getAttribute("tls-fingerprint");
        }
        if (this.hasAttribute("password")) {
            options.credentials = { password: this.getAttribute("password") };
            if (this.hasAttribute("username")) {
                options.credentials.username = this.getAttribute("username");
            }
        }
        return options;
    }

    /** The Console (null until the module loaded and the session started). */
    get console() {
        return this._console;
    }

    connectedCallback() {
        if (!this.style.display && getComputedStyle(this).display === "inline") {
            this.style.display = "block";
        }
        this._schedule();
    }

    disconnectedCallback() {
        this._stop();
    }

    attributeChangedCallback(name, old, now) {
        if (old === now || !this.isConnected) {
            return;
        }
        // View-only and the view mode change on the running session; the rest reconnects.
        if (this._console && !this._pending && (name === "view-only" || name === "resize")) {
            try {
                if (name === "view-only") {
                    this._console.viewOnly = flag(this, "view-only") ?? false;
                } else {
                    this._console.resize = now || "off";
                }
                return;
            } catch (e) {
                // A bad view mode: reconnecting reports it as for any bad attribute.
            }
        }
        this._schedule();
    }

    /** (Re)connects with the current attributes. */
    connect() {
        this._schedule();
    }

    /** Closes the session (a `disconnect` event with clean: true follows). */
    disconnect() {
        this._generation++;
        this._stop();
    }

    // Several attribute changes in a row (as the parser sets them) make one reconnect.
    _schedule() {
        if (this._pending) {
            return;
        }
        this._pending = true;
        queueMicrotask(() => {
            this._pending = false;
            this._start();
        });
    }

    async _start() {
        const generation = ++this._generation;
        this._stop();
        const url = this.getAttribute("url");
        if (!url || !this.isConnected) {
            return;
        }
        await load();
        if (generation !== this._generation || !this.isConnected) {
            return;
        }
        try {
            this._console = new Console(this, url, this.options);
        } catch (e) {
            const reason = e && e.message ? e.message : String(e);
            this.dispatchEvent(new CustomEvent("disconnect", { bubbles: true, composed: true, detail: { clean: false, reason } }));
        }
    }

    _stop() {
        const c = this._console;
        this._console = null;
        if (c) {
            c.disconnect();
            c.free();
        }
    }

    sendCredentials(credentials) {
        this._console?.sendCredentials(credentials);
    }

    approveServer(trust) {
        this._console?.approveServer(trust);
    }

    sendKey(keysym, code, down) {
        this._console?.sendKey(keysym, code, down);
    }

    sendCtrlAltDel() {
        this._console?.sendCtrlAltDel();
    }

    clipboardPaste(text) {
        this._console?.clipboardPaste(text);
    }

    focus() {
        if (this._console) {
            this._console.focus();
        } else {
            super.focus();
        }
    }

    blur() {
        if (this._console) {
            this._console.blur();
        } else {
            super.blur();
        }
    }

    toBlob(type, quality) {
        return this._console ? this._console.toBlob(type, quality) : Promise.resolve(null);
    }

    toDataURL(type, quality) {
        return this._console ? this._console.toDataURL(type, quality) : "";
    }

    machineShutdown() {
        return this._console ? this._console.machineShutdown() : false;
    }

    machineReboot() {
        return this._console ? this._console.machineReboot() : false;
    }

    machineReset() {
        return this._console ? this._console.machineReset() : false;
    }

    get connected() {
        return this._console ? this._console.connected : false;
    }

    get capabilities() {
        return this._console ? this._console.capabilities : { power: false };
    }
}

if (!customElements.get("oxvnc-console")) {
    customElements.define("oxvnc-console", OxvncConsole);
}

export { Console, load };
