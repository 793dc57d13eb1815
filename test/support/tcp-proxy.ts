// A TCP proxy in front of a real service (PostgreSQL by default), to stage an outage for ONE
// client without stopping the shared server other tests use: point the client at `url(...)`,
// `cut()` drops every open connection and resets new ones, `restore()` forwards again.
// `freeze()` stands for a server that hangs (SIGSTOP, a stuck disk, a network path that eats
// packets): connections stay open — new ones are even accepted — but nothing is forwarded either
// way, so no reply ever comes and no error either; `thaw()` delivers what was held, in order,
// and forwards again, as a server resuming would.
import net from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** `serviceUrl` with its host and port replaced by the proxy's. */
  url(serviceUrl: string): string;
  /** Drops every open connection (both ends) and resets every new one until restore(). */
  cut(): void;
  restore(): void;
  /** Stops forwarding without closing anything (open and new connections) until thaw(). */
  freeze(): void;
  /** Forwards what was held while frozen, then everything again. */
  thaw(): void;
  /** Connections accepted and forwarded so far (not counting refused ones). */
  readonly forwarded: number;
  /** Stops listening and drops every connection. Safe to call twice. */
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number } = { host: "127.0.0.1", port: 5432 }): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let down = false;
  let frozen = false;
  let forwarded = 0;
  /** While frozen: what each socket was sent, to deliver at thaw(). */
  const held: { to: net.Socket; chunk: Buffer }[] = [];

  const forward = (from: net.Socket, to: net.Socket) =>
    from.on("data", (chunk: Buffer) => {
      if (frozen) held.push({ to, chunk });
      else if (!to.destroyed) to.write(chunk);
    });

  const server = net.createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    forwarded += 1;
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      // A cut makes both ends error (ECONNRESET): expected, never fatal to the test process.
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // A closed end closes the other, as pipe() would.
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  const dropAll = () => {
    for (const socket of open) socket.resetAndDestroy();
    open.clear();
    held.length = 0;
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
    restore() {
      down = false;
    },
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const { to, chunk } of held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    get forwarded() {
      return forwarded;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        down = true;
        frozen = false;
        dropAll();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
