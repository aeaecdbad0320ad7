// The multiplexer of one tunnel: many channels over one WebSocket, no sockets
// here. The caller feeds every incoming message to receive() and hands every
// outgoing one to the transport through `send`.

import { EventEmitter } from 'node:events';
import { Channel } from './channel.ts';
import type { ChannelControl, ChannelHost } from './channel.ts';
import { decodeMessage, prepareFrame } from './codec.ts';
import type { ChannelFrame, Frame, ListenerInfo } from './frames.ts';
import { CHANNEL_REASON, GOAWAY_REASON, MAX_CHANNEL_ID } from './constants.ts';
import type { GoawayReason } from './constants.ts';
import { RpfProtocolError, isRpfProtocolError } from './errors.ts';
import { Keepalive } from './keepalive.ts';
import { completeSessionOptions } from './session-options.ts';
import type { CompleteSessionOptions, SessionOptions, SessionRole } from './session-options.ts';
import { TransportGate } from './transport-gate.ts';
import { WriteBatcher } from './write-batcher.ts';

/** Where an agent-side channel's connection came from. */
export interface OpenRequest {
  /** Port of the pod listener that accepted the connection. */
  listenerPort: number;
  /** Address of that listener, e.g. `127.0.0.1`. */
  address: string;
  /** The pod-side client, `ip:port`. */
  peer: string;
}

/** Counters of one session, for metrics. */
export interface SessionStats {
  /** Channels open now (opening, pending or open). */
  channelsOpen: number;
  /** Channels ever opened in this session, refused ones not included. */
  channelsOpenedTotal: number;
  /** Channels refused by the connection limit (agent: open() threw; client: auto OPEN_FAIL). */
  channelsRefusedTotal: number;
  /** DATA payload bytes received. */
  bytesIn: number;
  /** DATA payload bytes sent. */
  bytesOut: number;
  /** WebSocket messages received. */
  messagesIn: number;
  /** WebSocket messages sent. */
  messagesOut: number;
  /** WebSocket payload bytes received, frame headers included. */
  wireBytesIn: number;
  /** WebSocket payload bytes sent, frame headers included. */
  wireBytesOut: number;
  /** Round trip of the last answered PING, if any. */
  lastRttMs: number | undefined;
  /**
   * Bytes of control frames (all but DATA) queued or handed to the transport
   * and not yet confirmed written; the session ends past `maxControlBacklog`.
   */
  controlBytesQueued: number;
}

/** Events of {@link Session}. */
export interface SessionEvents {
  /** Client side: the agent opened a channel; call `accept()` or `reject()` on it. */
  open: [channel: Channel];
  /** Client side: the agent reports its listeners. */
  listening: [listeners: ListenerInfo[]];
  /** The peer broke the protocol; 'close' follows. Emitted only if someone listens. */
  error: [error: RpfProtocolError];
  /** The session ended; `error` is undefined for a local close() or the peer's normal GOAWAY. */
  close: [error: RpfProtocolError | undefined];
}

interface Entry {
  channel: Channel;
  control: ChannelControl;
}

/**
 * One tunnel session. Create it when the WebSocket opens, feed it messages,
 * and it emits channels (client) or makes them (agent).
 */
export class Session extends EventEmitter<SessionEvents> {
  /** Which end this is. */
  readonly role: SessionRole;

  readonly #options: CompleteSessionOptions;
  readonly #batcher: WriteBatcher;
  readonly #keepalive: Keepalive;
  readonly #host: ChannelHost;
  readonly #channels = new Map<number, Entry>();
  readonly #gate: TransportGate;
  #nextId = 1;
  #highestSeenId = 0;
  #closed = false;
  #closeError: RpfProtocolError | undefined = undefined;
  // One PONG in flight (queued or not yet confirmed written) at a time; the
  // bytes of the latest PING that arrived meanwhile wait here for their turn.
  #pongInFlight = false;
  #pongDue: Buffer | undefined = undefined;
  readonly #stats: Omit<SessionStats, 'channelsOpen' | 'controlBytesQueued'> = {
    channelsOpenedTotal: 0,
    channelsRefusedTotal: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    wireBytesIn: 0,
    wireBytesOut: 0,
    lastRttMs: undefined,
  };

  /** Throws RPF_ERR_PROTOCOL_INVALID_ARGUMENT for an invalid option. */
  constructor(options: SessionOptions) {
    super();
    const o = completeSessionOptions(options);
    this.#options = o;
    this.role = o.role;
    this.#batcher = new WriteBatcher({
      send: (message, controlBytes, release) => this.#transmit(message, controlBytes, release),
      // Only a transport that says when it is done with a message lets us reuse its memory.
      reuse: o.sendUsesDone,
      // Frames queued outside receive() (a dial that completed, a reader that
      // consumed, a pod connection) are checked against the bound here, at the
      // top of a tick, never in the middle of a channel's own code.
      schedule: (flush) =>
        o.schedule(() => {
          flush();
          this.#checkControlBacklog();
        }),
      maxMessageSize: o.maxMessageSize,
      onFlushed: () => this.#gate.wake(),
    });
    this.#gate = new TransportGate({
      send: o.send,
      sendUsesDone: o.sendUsesDone,
      highWaterMark: o.sendHighWaterMark,
      pendingBytes: () => this.#batcher.pendingBytes,
      onError: (error) => this.destroy(error),
    });
    this.#keepalive = new Keepalive({
      timers: o.timers,
      intervalMs: o.keepaliveIntervalMs,
      timeoutMs: o.keepaliveTimeoutMs,
      sendPing: () => this.#sendPing(),
      onTimeout: () =>
        this.#shutdown(
          new RpfProtocolError('RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT', `no message from the tunnel peer for ${o.keepaliveTimeoutMs} ms`),
        ),
    });
    this.#host = {
      sendFrame: (frame) => this.#sendChannelFrame(frame),
      afterFlush: (callback) => this.#batcher.afterFlush(callback),
      canSendData: () => this.#gate.open,
      waitForTransport: (control) => this.#gate.wait(control),
      channelClosed: (id) => this.#forget(id),
    };
    this.#keepalive.start();
  }

  /** Whether the session has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the session ended, once it has (undefined for a clean end). */
  get closeError(): RpfProtocolError | undefined {
    return this.#closeError;
  }

  /** Counters for metrics; a fresh object each time. */
  get stats(): SessionStats {
    return { channelsOpen: this.#channels.size, controlBytesQueued: this.#controlBacklog(), ...this.#stats };
  }

  /** The channels currently open. */
  channels(): Channel[] {
    return [...this.#channels.values()].map((e) => e.channel);
  }

  /**
   * Agent side: opens a channel for a connection a pod process made. Throws
   * RPF_ERR_PROTOCOL_CONNECTION_LIMIT at maxChannels (reset that pod connection
   * and log it), RPF_ERR_PROTOCOL_SESSION_CLOSED after the session ended.
   * Writes to the channel wait until the client accepted it.
   */
  open(request: OpenRequest): Channel {
    if (this.role !== 'agent') {
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_INVALID_ARGUMENT', 'only the agent side opens channels');
    }
    if (this.#closed) throw new RpfProtocolError('RPF_ERR_PROTOCOL_SESSION_CLOSED');
    if (this.#channels.size >= this.#options.maxChannels) {
      this.#stats.channelsRefusedTotal++;
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_CONNECTION_LIMIT',
        `reverse port-forward connection limit reached (${this.#options.maxChannels} connections)`,
        { reason: CHANNEL_REASON.CONNECTION_LIMIT },
      );
    }
    if (this.#nextId > MAX_CHANNEL_ID) {
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_CONNECTION_LIMIT', 'channel ids of this session are used up; open a new session');
    }
    const id = this.#nextId;
    const frame: Frame = { type: 'OPEN', channel: id, window: this.#options.initialWindow, ...pick(request) };
    prepareFrame(frame); // validates the request (throws INVALID_ARGUMENT) before anything is committed
    this.#nextId += 2;
    // Registered before OPEN leaves, so no answer can arrive for a channel we do not know yet.
    const channel = this.#addChannel({ id, state: 'opening', ...pick(request), initialWindow: this.#options.initialWindow, remoteWindow: 0 });
    this.#batcher.push(frame);
    return channel;
  }

  /** Agent side: reports the listeners opened in the pod (LISTENING). */
  sendListening(listeners: readonly ListenerInfo[]): void {
    if (this.role !== 'agent') {
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_INVALID_ARGUMENT', 'only the agent side sends LISTENING');
    }
    if (this.#closed) throw new RpfProtocolError('RPF_ERR_PROTOCOL_SESSION_CLOSED');
    this.#batcher.push({ type: 'LISTENING', listeners: [...listeners] });
  }

  /**
   * Feeds one incoming WebSocket message; takes ws's `(data, isBinary)` as they
   * come (`Buffer`, `ArrayBuffer` or `Buffer[]`). A text message or any other
   * protocol violation ends the session ('error' then 'close'), as does a peer
   * that makes us queue more than `maxControlBacklog` bytes of answers it does
   * not read; exceptions thrown by listeners propagate.
   */
  receive(data: Uint8Array | ArrayBuffer | readonly Uint8Array[], isBinary = true): void {
    if (this.#closed) return;
    const message = asBytes(data);
    this.#keepalive.received();
    this.#stats.messagesIn++;
    this.#stats.wireBytesIn += message.byteLength;
    try {
      if (!isBinary) {
        throw new RpfProtocolError('RPF_ERR_PROTOCOL_MALFORMED_FRAME', 'text WebSocket message: the tunnel carries binary messages only');
      }
      const frames = decodeMessage(message, { maxMessageSize: this.#options.maxMessageSize });
      for (const frame of frames) {
        if (this.#closed) return;
        this.#handle(frame);
        // After every frame, so a flood packed in one message stops being answered at the bound.
        if (!this.#closed && this.#controlBacklog() > this.#options.maxControlBacklog) throw this.#controlBacklogError();
      }
    } catch (error) {
      if (!isRpfProtocolError(error) || error.scope !== 'session') throw error;
      this.#fail(error);
    }
  }

  /**
   * Ends the session: sends GOAWAY (flushed at once, after any queued frames),
   * destroys every channel with RPF_ERR_PROTOCOL_SESSION_CLOSED and emits
   * 'close'. Close the WebSocket afterwards.
   */
  close(reason: GoawayReason = GOAWAY_REASON.NORMAL, message = ''): void {
    if (this.#closed) return;
    this.#batcher.push({ type: 'GOAWAY', reason, message });
    this.#batcher.flush();
    this.#shutdown(undefined);
  }

  /**
   * Ends the session without sending anything, e.g. when the WebSocket closed
   * under it. An error that is not an RpfProtocolError is wrapped as
   * RPF_ERR_PROTOCOL_TRANSPORT_CLOSED.
   */
  destroy(error?: unknown): void {
    if (this.#closed) return;
    const wrapped =
      error === undefined || isRpfProtocolError(error)
        ? error
        : new RpfProtocolError('RPF_ERR_PROTOCOL_TRANSPORT_CLOSED', undefined, { cause: error });
    this.#shutdown(wrapped);
  }

  #handle(frame: Frame): void {
    switch (frame.type) {
      case 'PING':
        this.#answerPing(frame.payload);
        return;
      case 'PONG': {
        const sentAt = Buffer.from(frame.payload.buffer, frame.payload.byteOffset, 8).readDoubleBE(0);
        const rtt = this.#options.timers.now() - sentAt;
        if (Number.isFinite(rtt) && rtt >= 0) this.#stats.lastRttMs = rtt;
        return;
      }
      case 'LISTENING':
        if (this.role !== 'client') throw unexpected('LISTENING is sent by the agent only');
        this.emit('listening', frame.listeners);
        return;
      case 'GOAWAY':
        this.#shutdown(
          frame.reason === GOAWAY_REASON.NORMAL
            ? undefined
            : new RpfProtocolError('RPF_ERR_PROTOCOL_GOAWAY', `the other side ended the tunnel session${frame.message ? `: ${frame.message}` : ''}`, {
                reason: frame.reason,
              }),
        );
        return;
      case 'OPEN':
        this.#handleOpen(frame);
        return;
      default:
        this.#handleChannelFrame(frame);
    }
  }

  #handleOpen(frame: Extract<Frame, { type: 'OPEN' }>): void {
    if (this.role !== 'client') throw unexpected('OPEN is sent by the agent only');
    if (frame.channel % 2 !== 1 || frame.channel <= this.#highestSeenId) {
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_INVALID_CHANNEL_ID',
        `OPEN for channel ${frame.channel}: ids must be odd and increasing (last was ${this.#highestSeenId})`,
      );
    }
    this.#highestSeenId = frame.channel;
    if (this.#channels.size >= this.#options.maxChannels) {
      this.#stats.channelsRefusedTotal++;
      this.#batcher.push({
        type: 'OPEN_FAIL',
        channel: frame.channel,
        reason: CHANNEL_REASON.CONNECTION_LIMIT,
        message: `reverse port-forward connection limit reached (${this.#options.maxChannels} connections)`,
      });
      return;
    }
    const channel = this.#addChannel({
      id: frame.channel,
      state: 'pending',
      listenerPort: frame.listenerPort,
      address: frame.address,
      peer: frame.peer,
      initialWindow: this.#options.initialWindow,
      remoteWindow: frame.window,
    });
    if (this.listenerCount('open') === 0) channel.reject(CHANNEL_REASON.CONNECT_FAILED, 'nobody accepts connections on this side');
    else this.emit('open', channel);
  }

  #handleChannelFrame(frame: Exclude<ChannelFrame, { type: 'OPEN' }>): void {
    const entry = this.#channels.get(frame.channel);
    if (entry === undefined) {
      // Frames crossing our RESET (or following a refusal) on the wire are expected; ignore them.
      if (this.#wasUsed(frame.channel)) return;
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_UNKNOWN_CHANNEL', `${frame.type} for channel ${frame.channel}, which was never opened`);
    }
    const { control } = entry;
    switch (frame.type) {
      case 'OPEN_OK':
        if (this.role !== 'agent') throw unexpected('OPEN_OK is sent by the client only');
        control.openOk(frame.window);
        return;
      case 'OPEN_FAIL':
        if (this.role !== 'agent') throw unexpected('OPEN_FAIL is sent by the client only');
        control.openFail(frame.reason, frame.message);
        return;
      case 'DATA':
        control.data(frame.data);
        this.#stats.bytesIn += frame.data.length;
        return;
      case 'WINDOW_ADJUST':
        control.windowAdjust(frame.increment);
        return;
      case 'EOF':
        control.eof();
        return;
      case 'RESET':
        control.reset(frame.reason, frame.message);
        return;
    }
  }

  // Ids only grow, so "used before" needs no memory of closed channels.
  #wasUsed(id: number): boolean {
    if (id % 2 !== 1) return false;
    return this.role === 'agent' ? id < this.#nextId : id <= this.#highestSeenId;
  }

  #addChannel(init: ConstructorParameters<typeof Channel>[1]): Channel {
    let control: ChannelControl | undefined;
    const channel = new Channel(this.#host, init, (c) => {
      control = c;
    });
    this.#channels.set(init.id, { channel, control: control as ChannelControl });
    this.#stats.channelsOpenedTotal++;
    return channel;
  }

  #forget(id: number): void {
    const entry = this.#channels.get(id);
    if (entry === undefined) return;
    this.#channels.delete(id);
    this.#gate.forget(entry.control);
  }

  #sendChannelFrame(frame: ChannelFrame): void {
    if (this.#closed) return;
    this.#batcher.push(frame);
    if (frame.type === 'DATA') this.#stats.bytesOut += frame.data.length;
  }

  #sendPing(): void {
    const payload = Buffer.allocUnsafe(8);
    payload.writeDoubleBE(this.#options.timers.now(), 0);
    this.#batcher.push({ type: 'PING', payload });
  }

  // A peer that floods PINGs and never reads would otherwise make us queue a
  // PONG for each (issue 8, finding 1). As HTTP/2 implementations limit ping
  // floods, we keep one PONG in flight and answer the latest PING that arrived
  // meanwhile once the transport has written it: PONG bytes held stay at two
  // frames whatever the peer sends, and a peer that reads gets every answer.
  #answerPing(payload: Uint8Array): void {
    this.#pongDue ??= Buffer.allocUnsafe(payload.length);
    this.#pongDue.set(payload);
    if (!this.#pongInFlight) this.#sendPong();
  }

  #sendPong(): void {
    const payload = this.#pongDue;
    if (payload === undefined || this.#closed) return;
    this.#pongDue = undefined;
    this.#pongInFlight = true;
    this.#batcher.push({ type: 'PONG', payload });
    // afterFlush: the PONG's message has been handed to the gate; afterWritten: it left.
    this.#batcher.afterFlush(() =>
      this.#gate.afterWritten(() => {
        this.#pongInFlight = false;
        this.#sendPong();
      }),
    );
  }

  #controlBacklog(): number {
    return this.#gate.outstandingControlBytes + this.#batcher.pendingControlBytes;
  }

  #controlBacklogError(): RpfProtocolError {
    return new RpfProtocolError(
      'RPF_ERR_PROTOCOL_CONTROL_BACKLOG',
      `the tunnel peer does not read: ${this.#controlBacklog()} bytes of control frames await the transport (at most ${this.#options.maxControlBacklog})`,
    );
  }

  #checkControlBacklog(): void {
    if (!this.#closed && this.#controlBacklog() > this.#options.maxControlBacklog) this.#fail(this.#controlBacklogError());
  }

  #transmit(message: Buffer, controlBytes: number, release?: () => void): void {
    this.#stats.messagesOut++;
    this.#stats.wireBytesOut += message.length;
    this.#gate.transmit(message, controlBytes, release);
  }

  #fail(error: RpfProtocolError): void {
    if (this.#closed) return;
    if (this.listenerCount('error') > 0) this.emit('error', error);
    if (this.#closed) return;
    this.#batcher.push({ type: 'GOAWAY', reason: GOAWAY_REASON.PROTOCOL_ERROR, message: error.message });
    this.#batcher.flush();
    this.#shutdown(error);
  }

  #shutdown(error: RpfProtocolError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#keepalive.stop();
    const callbacks = this.#batcher.close();
    const entries = [...this.#channels.values()];
    this.#channels.clear();
    this.#gate.close();
    for (const { control } of entries) control.sessionClosed(error);
    // Write and end() callbacks still waiting for a flush: the channels that
    // own them are destroyed now (their writes fail), except those that had
    // already ended both ways, which may now finish.
    for (const cb of callbacks) cb();
    this.emit('close', error);
  }
}

function asBytes(data: Uint8Array | ArrayBuffer | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return Buffer.concat(data);
}

function unexpected(what: string): RpfProtocolError {
  return new RpfProtocolError('RPF_ERR_PROTOCOL_UNEXPECTED_FRAME', what);
}


function pick(request: OpenRequest): OpenRequest {
  return { listenerPort: request.listenerPort, address: request.address, peer: request.peer };
}
