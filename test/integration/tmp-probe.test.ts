import { it } from "vitest";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { testDatabaseUrl } from "../support/db.js";
import { basic, BOARD_PASSWORD, BOARD_USER, startApp } from "./http-app.js";
const AUTH = basic(BOARD_USER, BOARD_PASSWORD);
it("probe", async () => {
  const pg = await startTcpProxy();
  const app = await startApp({ DATABASE_URL: pg.url(testDatabaseUrl()), CONSOLE_ACTIONS_ENABLED: "true" });
  const time = async (name: string, f: () => Promise<Response>) => { const t = Date.now(); try { const r = await f(); const body = (await r.text()).slice(0, 160).replace(/\s+/g, " "); console.log(name, r.status, Date.now() - t, "ms", body); } catch (e) { console.log(name, "threw", Date.now() - t, (e as Error).message); } };
  pg.freeze();
  await Promise.all([
    time("console", () => fetch(`${app.opsUrl}/admin/console`, { headers: { authorization: AUTH } })),
    time("metrics", () => fetch(`${app.opsUrl}/metrics`)),
    time("readyz", () => fetch(`${app.opsUrl}/readyz`)),
    time("sweeps", () => fetch(`${app.opsUrl}/health/sweeps`)),
  ]);
  await time("console again", () => fetch(`${app.opsUrl}/admin/console`, { headers: { authorization: AUTH } }));
  pg.restore();
  await time("console after", () => fetch(`${app.opsUrl}/admin/console`, { headers: { authorization: AUTH } }));
  await time("readyz after", () => fetch(`${app.opsUrl}/readyz`));
  console.log("pool", app.watchdog && (app as any).watchdog?.db?.pool?.totalCount);
  await app.stop(); await pg.close();
}, 180000);
