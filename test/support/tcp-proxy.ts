// A TCP proxy in front of a real service (PostgreSQL by default), to stage an outage for ONE
// client without stopping the shared server other tests use: point the client at `url(...)`,
// `cut()` drops every open connection and resets new ones, `freeze()` keeps every connection open
// but forwards nothing either way (a dependency that stopped answering), `restore()` forwards
// again (what a freeze held is delivered then, unless its connection closed meanwhile).
import net from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** `serviceUrl` with its host and port replaced by the proxy's. */
  url(serviceUrl: string): string;
  /** Drops every open connection (both ends) and resets every new one until restore(). */
  cut(): void;
  /** Connections stay open (new ones are accepted) but no byte is forwarded until restore(). */
  freeze(): void;
  /** freeze() as the `n`-th connection from now is accepted (its first byte is held): a client's second connection meets a frozen server. */
  freezeAtConnection(n: number): void;
  restore(): void;
  /** New connections go to `target` from now on (a DNS name moved at a failover); open ones stay where they are. */
  retarget(target: { host: string; port: number }): void;
  /** Connections accepted and forwarded so far (not counting refused ones). */
  readonly forwarded: number;
  /** Bytes received from clients so far (forwarded or held by a freeze). */
  readonly clientBytes: number;
  /** What clients sent during the current freeze, in order (latin1): which statements a freeze held. */
  heldFromClients(): string;
  /** Stops listening and drops every connection. Safe to call twice. */
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number } = { host: "127.0.0.1", port: 5432 }): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let current = target;
  let down = false;
  let frozen = false;
  let forwarded = 0;
  /** The value of `forwarded` at which to freeze; none when null. */
  let freezeAt: number | null = null;
  let clientBytes = 0;
  /** What a freeze held, in order; a write to a socket closed meanwhile is dropped. */
  let held: { to: net.Socket; chunk: Buffer | null; fromClient: boolean }[] = [];

  const deliver = (to: net.Socket, chunk: Buffer | null) => {
    if (to.destroyed) return;
    if (chunk === null) to.end();
    else to.write(chunk);
  };
  const relay = (from: net.Socket, to: net.Socket, fromClient: boolean) => {
    from.on("data", (chunk: Buffer) => {
      if (fromClient) clientBytes += chunk.length;
      if (frozen) held.push({ to, chunk, fromClient });
      else deliver(to, chunk);
    });
    from.on("end", () => (frozen ? held.push({ to, chunk: null, fromClient }) : deliver(to, null)));
    // One end gone: the other goes too, and nothing held for it is delivered later.
    from.on("close", () => to.destroy());
  };

  const server = net.createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    forwarded += 1;
    if (forwarded === freezeAt) {
      frozen = true;
      freezeAt = null;
    }
    const upstream = net.connect(current.port, current.host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      // A cut makes both ends error (ECONNRESET): expected, never fatal to the test process.
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    relay(client, upstream, true);
    relay(upstream, client, false);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  const dropAll = () => {
    for (const socket of open) socket.resetAndDestroy();
    open.clear();
    held = [];
  };
  let closed: Promise<void> | undefined;

  return {
    port,
    url(serviceUrl) {
      const u = new URL(serviceUrl);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    cut() {
      down = true;
      dropAll();
    },
    freeze() {
      frozen = true;
    },
    freezeAtConnection(n) {
      freezeAt = forwarded + n;
    },
    restore() {
      down = false;
      frozen = false;
      freezeAt = null;
      const pending = held;
      held = [];
      for (const { to, chunk } of pending) deliver(to, chunk);
    },
    retarget(to) {
      current = to;
    },
    get forwarded() {
      return forwarded;
    },
    get clientBytes() {
      return clientBytes;
    },
    heldFromClients() {
      return held.map((h) => (h.fromClient && h.chunk ? h.chunk.toString("latin1") : "")).join("");
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        down = true;
        dropAll();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
