// Raw HTTP over node:net: writes exactly the bytes given (no client library normalises the
// request line, the target or the headers) and reads what the server answers until it closes.
import net from "node:net";

export interface RawAnswer {
  /** The status code of the first response, or null when the server closed without answering. */
  status: number | null;
  /** Everything the server sent (all responses, when the request was pipelined). */
  text: string;
  /** How the exchange ended. */
  ended: "closed" | "reset" | "timeout";
}

/** Sends `bytes` to `url`'s host and port, half-closes, and collects the answer (at most `timeoutMs`). */
export function rawRequest(url: string, bytes: string | Buffer, timeoutMs = 3000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const socket = net.connect(Number(port), hostname.replace(/^\[(.*)\]$/, "$1"));
    const finish = (ended: RawAnswer["ended"]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : null, text, ended });
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => finish("closed"));
    socket.on("close", () => finish("closed"));
    socket.on("error", () => finish("reset"));
    socket.on("connect", () => {
      socket.write(bytes);
      socket.end();
    });
  });
}
