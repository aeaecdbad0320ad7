// The multiplexer of one tunnel: many channels over one WebSocket, no sockets
// here. The caller feeds every incoming message to receive() and hands every
// outgoing one to the transport through `send`.

import { EventEmitter } from 'node:events';
import { Channel } from './channel.ts';
import type { ChannelControl, ChannelHost } from './channel.ts';
import { decodeMessage, prepareFrame } from './codec.ts';
import type { ChannelFrame, Frame, ListenerInfo } from './frames.ts';
import { CHANNEL_REASON, GOAWAY_REASON } from './constants.ts';
import type { GoawayReason } from './constants.ts';
import { RpfProtocolError, isRpfProtocolError } from './errors.ts';
import { Keepalive } from './keepalive.ts';
import { asBytes, detachReceived } from './message-bytes.ts';
import { completeSessionOptions } from './session-options.ts';
import type { CompleteSessionOptions, SessionOptions, SessionRole } from './session-options.ts';
import { TransportGate } from './transport-gate.ts';
import { WriteBatcher } from './write-batcher.ts';
import { ChannelIds } from './channel-ids.ts';
import { ControlBacklog } from './control-backlog.ts';
import { PingResponder, pingPayload, pongRtt } from './ping-responder.ts';
import type { OpenRequest, SessionEvents, SessionStats } from './session-types.ts';

export type { OpenRequest, SessionEvents, SessionStats } from './session-types.ts';

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
  readonly #ids: ChannelIds;
  #closed = false;
  #closeError: RpfProtocolError | undefined = undefined;
  readonly #pings: PingResponder;
  readonly #backlog: ControlBacklog;
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
    this.#ids = new ChannelIds(o.role);
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
    this.#backlog = new ControlBacklog({
      outstandingControlBytes: () => this.#gate.outstandingControlBytes,
      pendingControlBytes: () => this.#batcher.pendingControlBytes,
      max: o.maxControlBacklog,
    });
    this.#pings = new PingResponder({
      push: (frame) => this.#batcher.push(frame),
      afterFlush: (callback) => this.#batcher.afterFlush(callback),
      afterWritten: (callback) => this.#gate.afterWritten(callback),
      closed: () => this.#closed,
    });
    this.#host = {
      sendFrame: (frame) => this.#sendChannelFrame(frame),
      sendDataCopy: (channel, bytes) => this.#sendDataCopy(channel, bytes),
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
    return { channelsOpen: this.#channels.size, controlBytesQueued: this.#backlog.bytes, ...this.#stats };
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
    const id = this.#ids.next();
    const frame: Frame = { type: 'OPEN', channel: id, window: this.#options.initialWindow, ...pick(request) };
    prepareFrame(frame); // validates the request (throws INVALID_ARGUMENT) before anything is committed
    this.#ids.take();
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
      // Channels that kept a view of the message.
      let viewers: ChannelControl[] | undefined;
      for (const frame of frames) {
        if (this.#closed) return;
        const viewer = this.#handle(frame);
        if (viewer !== undefined) (viewers ??= []).push(viewer);
        // After every frame, so a flood packed in one message stops being answered at the bound.
        if (!this.#closed && this.#backlog.exceeded) throw this.#backlog.error();
      }
      if (this.#options.releaseReceived && !this.#closed) release(message, viewers);
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

  // Returns the channel's control when the frame was DATA and the channel kept a view of it.
  #handle(frame: Frame): ChannelControl | undefined {
    switch (frame.type) {
      case 'PING':
        this.#pings.answer(frame.payload);
        return;
      case 'PONG': {
        const rtt = pongRtt(frame.payload, this.#options.timers.now());
        if (rtt !== undefined) this.#stats.lastRttMs = rtt;
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
        return this.#handleChannelFrame(frame);
    }
  }

  #handleOpen(frame: Extract<Frame, { type: 'OPEN' }>): void {
    if (this.role !== 'client') throw unexpected('OPEN is sent by the agent only');
    this.#ids.received(frame.channel);
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

  #handleChannelFrame(frame: Exclude<ChannelFrame, { type: 'OPEN' }>): ChannelControl | undefined {
    const entry = this.#channels.get(frame.channel);
    if (entry === undefined) {
      // Frames crossing our RESET (or following a refusal) on the wire are expected; ignore them.
      if (this.#ids.wasUsed(frame.channel)) return undefined;
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
      case 'DATA': {
        const viewed = control.data(frame.data);
        this.#stats.bytesIn += frame.data.length;
        return viewed ? control : undefined;
      }
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

  #sendDataCopy(channel: number, bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#batcher.pushCopy(channel, bytes);
    this.#stats.bytesOut += bytes.length;
  }

  #sendPing(): void {
    this.#batcher.push({ type: 'PING', payload: pingPayload(this.#options.timers.now()) });
  }

  #checkControlBacklog(): void {
    if (!this.#closed && this.#backlog.exceeded) this.#fail(this.#backlog.error());
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

/**
 * Detaches a handled message's memory when it is the whole of its ArrayBuffer
 * and every channel that kept a view of it holds none any more: the backing
 * store is freed now, not at the next major garbage collection. (Issue 9: a
 * fresh 1 MiB message per MiB received, ws's reassembly, counted as external
 * memory and cost the receiving end ~40 mark-compacts per GiB.) Every other
 * frame's payload is copied or decoded before this runs (PING bytes are
 * copied by the PingResponder, texts are strings).
 */
function release(message: Uint8Array, viewers: readonly ChannelControl[] | undefined): void {
  const memory = message.buffer;
  if (!(memory instanceof ArrayBuffer) || message.byteOffset !== 0 || message.byteLength !== memory.byteLength) return;
  if (viewers !== undefined) for (const viewer of viewers) if (!viewer.viewsReleased()) return;
  detachReceived(memory);
}

function unexpected(what: string): RpfProtocolError {
  return new RpfProtocolError('RPF_ERR_PROTOCOL_UNEXPECTED_FRAME', what);
}

function pick(request: OpenRequest): OpenRequest {
  return { listenerPort: request.listenerPort, address: request.address, peer: request.peer };
}
