// Live document status over the WebSocket API: subscriptions that survive reconnects, and a ping
// that keeps an idle connection open (API Gateway closes a WebSocket idle for 10 minutes).
import { tokenOf } from './client.js';
import { TERMINAL_STAGES } from './types.js';
const OPEN = 1;
/**
 * One connection carrying any number of subscriptions. After a drop it reconnects with backoff
 * and subscribes to every statusId again; the server answers each subscription with the current
 * status, so a reconnect misses nothing but the intermediate stages.
 */
export class StatusSocket {
    options;
    socket;
    listeners = new Map();
    pinger;
    retry;
    delay;
    closed = false;
    lastHeard = 0;
    watchdog;
    /** Waiting for a run's end (`untilDone`), by statusId: told why when it cannot come. */
    failing = new Map();
    /** Ends the current connection without reconnecting (for `close`). */
    endConnection;
    /** Waiting for `subscription_confirmed`, by statusId. */
    confirming = new Map();
    /** How many times the connection was opened (1 + reconnects). */
    connections = 0;
    constructor(options) {
        this.options = options;
        this.delay = options.reconnectDelayMs ?? 500;
        void this.connect();
    }
    /** Calls `listener` with every status update of `statusId` until the returned function is called. */
    subscribe(statusId, listener) {
        let set = this.listeners.get(statusId);
        if (!set) {
            set = new Set();
            this.listeners.set(statusId, set);
            this.send({ action: 'subscribe', statusId });
        }
        set.add(listener);
        return () => {
            const current = this.listeners.get(statusId);
            if (!current)
                return;
            current.delete(listener);
            if (current.size === 0) {
                this.listeners.delete(statusId);
                this.send({ action: 'unsubscribe', statusId });
            }
        };
    }
    /**
     * Subscribes (as `subscribe`) and resolves `true` once the server confirms, `false` when it
     * refuses (another user's document, too many subscriptions), the connection is down or
     * `timeoutMs` passes. Subscribing before submitting a document, and waiting for this, makes sure
     * no stage is missed.
     */
    subscribeConfirmed(statusId, listener, timeoutMs = 3000) {
        const confirmed = new Promise((resolve) => {
            if (this.socket?.readyState !== OPEN)
                return resolve(false);
            const waiting = this.confirming.get(statusId) ?? [];
            let settled = false;
            const settle = (ok) => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(timer);
                const left = (this.confirming.get(statusId) ?? []).filter((s) => s !== settle);
                if (left.length)
                    this.confirming.set(statusId, left);
                else
                    this.confirming.delete(statusId);
                resolve(ok);
            };
            const timer = setTimeout(() => settle(false), timeoutMs);
            waiting.push(settle);
            this.confirming.set(statusId, waiting);
        });
        // Listed before subscribing, so the confirmation cannot come back first.
        const stop = this.subscribe(statusId, listener);
        if ((this.listeners.get(statusId)?.size ?? 0) > 1) {
            // Already subscribed: ask again so the server confirms (and sends the current status).
            this.send({ action: 'subscribe', statusId });
        }
        return { confirmed, stop };
    }
    /**
     * Resolves with the run's final update (completed, failed or cancelled); rejects when the server
     * refuses the subscription or the socket is closed first.
     */
    untilDone(statusId, onUpdate) {
        return new Promise((resolve, reject) => {
            const fail = (reason) => {
                stop();
                this.failing.get(statusId)?.delete(fail);
                reject(new Error(reason));
            };
            const failing = this.failing.get(statusId) ?? new Set();
            failing.add(fail);
            this.failing.set(statusId, failing);
            const stop = this.subscribe(statusId, (update) => {
                onUpdate?.(update);
                if (TERMINAL_STAGES.includes(update.status)) {
                    stop();
                    this.failing.get(statusId)?.delete(fail);
                    resolve(update);
                }
            });
        });
    }
    /** Sends a ping now (the interval sends them by itself). */
    ping() {
        this.send({ action: 'ping' });
    }
    /** Closes for good. */
    close() {
        if (this.closed)
            return;
        this.closed = true;
        clearTimeout(this.retry);
        const socket = this.socket;
        if (this.endConnection)
            this.endConnection();
        else
            this.options.onState?.('closed');
        socket?.close(1000, 'closed by client');
        this.settleAll(false);
        for (const fails of [...this.failing.values()])
            for (const fail of [...fails])
                fail('the status socket was closed');
    }
    async connect() {
        if (this.closed)
            return;
        this.options.onState?.('connecting');
        let token;
        try {
            token = await tokenOf(this.options.token);
        }
        catch {
            this.options.onState?.('closed');
            this.scheduleReconnect();
            return;
        }
        if (this.closed)
            return;
        const url = `${this.options.url}${this.options.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
        const make = this.options.socket ?? ((u) => new globalThis.WebSocket(u));
        const socket = make(url);
        this.socket = socket;
        // A connection ends once, however it is told: some runtimes report a refused handshake
        // (a 401 from $connect) as an error without a close, others as both.
        let ended = false;
        const lost = () => {
            if (ended)
                return;
            ended = true;
            clearTimeout(giveUp);
            clearInterval(this.pinger);
            clearInterval(this.watchdog);
            if (this.socket === socket)
                this.socket = undefined;
            this.endConnection = undefined;
            this.settleAll(false);
            this.options.onState?.('closed');
            this.scheduleReconnect();
        };
        this.endConnection = lost;
        const giveUp = setTimeout(() => {
            if (socket.readyState !== OPEN) {
                socket.close();
                lost();
            }
        }, this.options.connectTimeoutMs ?? 10_000);
        socket.onopen = () => {
            clearTimeout(giveUp);
            this.connections += 1;
            this.lastHeard = Date.now();
            this.delay = this.options.reconnectDelayMs ?? 500;
            this.options.onState?.('open');
            for (const statusId of this.listeners.keys())
                this.send({ action: 'subscribe', statusId });
            const every = this.options.pingIntervalMs ?? 5 * 60_000;
            clearInterval(this.pinger);
            if (every > 0)
                this.pinger = setInterval(() => this.ping(), every);
            const silence = this.options.silenceTimeoutMs ?? 0;
            clearInterval(this.watchdog);
            if (silence > 0) {
                this.watchdog = setInterval(() => {
                    if (Date.now() - this.lastHeard > silence) {
                        socket.close();
                        lost();
                    }
                }, Math.max(10, Math.floor(silence / 4)));
            }
        };
        socket.onmessage = (ev) => {
            this.lastHeard = Date.now();
            let message;
            try {
                message = JSON.parse(String(ev.data));
            }
            catch {
                return;
            }
            this.options.onMessage?.(message);
            if (message.type === 'subscription_confirmed')
                this.settle(message.statusId, true);
            if (message.type === 'error' && message.statusId) {
                // Refused (another user's document, too many subscriptions): not asked again on reconnect.
                this.settle(message.statusId, false);
                this.listeners.delete(message.statusId);
                for (const fail of [...(this.failing.get(message.statusId) ?? [])])
                    fail(message.error);
            }
            if (message.type === 'document_status_update') {
                for (const listener of [...(this.listeners.get(message.statusId) ?? [])])
                    listener(message);
            }
        };
        socket.onerror = () => {
            if (socket.readyState !== OPEN)
                lost();
        };
        socket.onclose = lost;
    }
    settle(statusId, ok) {
        for (const resolve of this.confirming.get(statusId) ?? [])
            resolve(ok);
        this.confirming.delete(statusId);
    }
    settleAll(ok) {
        for (const statusId of [...this.confirming.keys()])
            this.settle(statusId, ok);
    }
    scheduleReconnect() {
        if (this.closed)
            return;
        // Jittered, so clients dropped together do not come back together.
        const wait = this.delay * (0.8 + Math.random() * 0.4);
        this.delay = Math.min(this.delay * 2, this.options.maxReconnectDelayMs ?? 30_000);
        this.retry = setTimeout(() => void this.connect(), wait);
    }
    send(message) {
        if (this.socket?.readyState === OPEN)
            this.socket.send(JSON.stringify(message));
        // Otherwise the subscription is sent when the connection opens.
    }
}
