// A webhook receiver in a process of its own (a customer's endpoint is never in the watchdog's
// process): answers every POST with 204 and counts them; GET /count says how many so far,
// DELETE /count starts again from 0. Prints {"port": N} on its first line.
import http from "node:http";

let count = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.method === "POST") {
      count += 1;
      res.writeHead(204).end();
    } else if (req.method === "DELETE") {
      count = 0;
      res.writeHead(204).end();
    } else {
      res.writeHead(200, { "content-type": "text/plain" }).end(String(count));
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
