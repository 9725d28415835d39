import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server, for fault tests that must not touch the server itself:
 * `hang()` stops forwarding, `loseAnswersAfter()` swallows one connection's answers, `drop()` resets every connection
 * and refuses new ones, `restore()` forwards again.
 */
export class TcpProxy {
  #server: Server;
  #mode: 'pass' | 'hang' | 'drop' = 'pass';
  readonly #sockets = new Set<Socket>();
  #marker: Buffer | null = null;
  readonly #silenced = new Set<Socket>();
  port = 0;

  private constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(upstreamHost: string, upstreamPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(upstreamHost, upstreamPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    return proxy;
  }

  /** Bytes in either direction are swallowed (a frozen server or a silent network). */
  hang(): void {
    this.#mode = 'hang';
  }

  /**
   * The first connection that sends bytes containing `marker` (e.g. `COMMIT`) gets no answer
   * from then on, until `restore()`: that statement runs on the server, its answer is lost.
   */
  loseAnswersAfter(marker: string): void {
    this.#marker = Buffer.from(marker);
  }

  /** Every connection is reset and new ones are closed at once (the server went away). */
  drop(): void {
    this.#mode = 'drop';
    for (const socket of this.#sockets) socket.destroy();
  }

  restore(): void {
    this.#mode = 'pass';
    this.#marker = null;
    this.#silenced.clear();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: Socket): void {
    if (this.#mode === 'drop') {
      client.destroy();
      return;
    }
    const upstream = connect(this.upstreamPort, this.upstreamHost);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      if (this.#marker && chunk.includes(this.#marker)) {
        this.#marker = null;
        this.#silenced.add(client);
      }
      if (this.#mode === 'pass') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (this.#mode === 'pass' && !this.#silenced.has(client)) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }
}
