// Without configured credentials the ops listener's board and console are served on a loopback
// OPS_HOST only, and then only to a request whose Host is a loopback name too: a page on another
// site cannot reach them by pointing its own name at 127.0.0.1 (DNS rebinding), as the browser
// then treats the listener as that site's own origin and sends it anything.
import type { IncomingHttpHeaders } from "node:http";
import { isLoopbackHost } from "../outbox/webhook-config.js";

/** True when the request's Host names this machine's loopback (127.0.0.0/8, ::1, localhost), port aside. */
export function hostIsLoopback(headers: IncomingHttpHeaders): boolean {
  return isLoopbackHost((headers.host ?? "").replace(/:\d+$/, ""));
}
