// Webhook endpoints are validated once at start: https unless loopback, a whsec_ secret of 24–64
// bytes, one endpoint per organization; a message names the entry and field and never shows a secret.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/platform/config/load-config.js";
import { isLoopbackHost, loadWebhookEndpoints } from "../../src/outbox/webhook-config.js";
import { toEventMessage, webhookBody } from "../../src/outbox/message.js";
import { webhookBackoff } from "../../src/outbox/delivery.js";
import { scrubSecrets } from "../../src/platform/logger.js";

const secret = `whsec_${randomBytes(32).toString("base64")}`;
const problems = (json: unknown): string[] => {
  try {
    loadWebhookEndpoints({ webhooksJson: JSON.stringify(json) });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  return [];
};

describe("webhook endpoints", () => {
  it("accept https anywhere and http on loopback only", () => {
    expect(problems([{ organizationId: 7, url: "https://hooks.example.com/w", secret }])).toEqual([]);
    for (const url of ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x"]) expect(problems([{ organizationId: 7, url, secret }]), url).toEqual([]);
    expect(problems([{ organizationId: 7, url: "http://hooks.example.com/w", secret }])).toEqual([
      "WEBHOOKS_JSON [0].url must be https (plain http only for a loopback host such as 127.0.0.1), got the string \"http://hooks.example.com/w\"",
    ]);
    expect(problems([{ organizationId: 7, url: "http://10.0.0.1/w", secret }])[0]).toMatch(/\[0\]\.url must be https/);
    expect(problems([{ organizationId: 7, url: "https://u:p@hooks.example.com/w", secret }])[0]).toMatch(/must not carry credentials/);
    // As the CLI's --url: printable and bounded (a URL parser drops a newline silently; the list and logs would not).
    expect(problems([{ organizationId: 7, url: "https://hooks.example.com/w\nb", secret }])[0]).toMatch(/\[0\]\.url must not contain control characters \(such as NUL or a newline\)/);
    expect(problems([{ organizationId: 7, url: `https://hooks.example.com/${"a".repeat(3000)}`, secret }])[0]).toMatch(/\[0\]\.url must be at most 2048 characters/);
    expect(isLoopbackHost("127.8.9.1")).toBe(true);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
    expect(isLoopbackHost("localhost.example.com")).toBe(false);
  });

  it("refuse a URL that carries credentials without showing them (nor the password of a plain-http one)", () => {
    for (const url of ["https://ops:Hunter2-pw@hooks.example.com/w", "http://ops:Hunter2-pw@hooks.example.com/w"]) {
      const messages = problems([{ organizationId: 7, url, secret }]).join("\n");
      expect(messages, url).toMatch(/\[0\]\.url must not carry credentials/);
      expect(messages, url).not.toContain("Hunter2");
      expect(messages, url).not.toContain("ops:");
    }
  });

  it("refuse a plain-http URL quoting its origin and path, never its query string or fragment (a token may be there)", () => {
    for (const url of ["http://h.io/w?token=Tok-Secret-1#Frag-Secret-2", "http://h.io/w#Frag-Secret-2"]) {
      const messages = problems([{ organizationId: 7, url, secret }]);
      expect(messages, url).toEqual([
        `WEBHOOKS_JSON [0].url must be https (plain http only for a loopback host such as 127.0.0.1), got the string "${url.includes("?") ? "http://h.io/w?<redacted>#<redacted>" : "http://h.io/w#<redacted>"}"`,
      ]);
    }
  });

  it("refuse a text that is not a URL quoting it without what follows a ? or # (a token may be there)", () => {
    for (const url of ["hooks.example.com/w?token=Tok-Secret-1", "hooks.example.com/w#Frag-Secret-2"]) {
      const messages = problems([{ organizationId: 7, url, secret }]);
      expect(messages, url).toEqual([`WEBHOOKS_JSON [0].url must be a URL such as https://hooks.example.com/watchdog, got the string "hooks.example.com/w?<redacted>"`]);
    }
  });

  it("refuse a bad secret without ever showing it", () => {
    const bad = "whsec_dG9vc2hvcnQ="; // 8 bytes
    const messages = problems([{ organizationId: 7, url: "https://h.example.com/", secret: bad }]);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^WEBHOOKS_JSON \[0\]\.secret must be "whsec_" followed by the base64 of 24 to 64 random bytes/);
    expect(messages.join("\n")).not.toContain("dG9vc2hvcnQ");
    expect(problems([{ organizationId: 7, url: "https://h.example.com/", secret: "plain-password-123456789012345" }]).join("\n")).not.toContain("plain-password");
  });

  it("never shows a secret that landed in another field (values swapped, a bare list of secrets, a nested object)", () => {
    const cases: unknown[] = [
      [{ organizationId: 7, url: secret, secret: "https://h.example.com/" }],
      [{ organizationId: secret, url: "https://h.example.com/", secret }],
      [secret],
      [{ organizationId: 7, url: "https://h.example.com/", secret: [secret] }],
      [[{ organizationId: 7, url: "https://h.example.com/", secret }]],
    ];
    for (const json of cases) {
      const messages = problems(json).join("\n");
      expect(messages, JSON.stringify(json)).not.toBe("");
      expect(messages, messages).not.toContain(secret.slice(6, 16));
    }
    // What is wrong is still named.
    expect(problems([{ organizationId: 7, url: secret, secret: "https://h.example.com/" }])[0]).toMatch(/^WEBHOOKS_JSON \[0\]\.url must be a URL/);
  });

  it("refuse unknown fields by name, bad organization ids, invalid JSON (without quoting it), and two endpoints for one organization", () => {
    expect(problems([{ organizationId: 7, url: "https://h.example.com/", secret, secrte: "x" }])[0]).toMatch(/unknown field "secrte"; allowed: organizationId, url, secret/);
    expect(problems([{ organizationId: "7", url: "https://h.example.com/", secret }])[0]).toMatch(/\[0\]\.organizationId must be an organization id/);
    expect(problems({ organizationId: 7 })[0]).toMatch(/must be a JSON array/);
    expect(() => loadWebhookEndpoints({ webhooksJson: `[{"secret": "${secret}"` })).toThrow(/WEBHOOKS_JSON is not valid JSON/);
    // Two urls for one endpoint: which one was meant is not for the reader to guess.
    expect(() => loadWebhookEndpoints({ webhooksJson: `[{"organizationId": 7, "url": "https://a.example/h", "url": "https://b.example/h", "secret": "${secret}"}]` })).toThrow(
      /WEBHOOKS_JSON is not valid JSON: the key "url" is given twice in \[0\]/,
    );
    try {
      loadWebhookEndpoints({ webhooksJson: `[{"secret": "${secret}"` });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(secret.slice(6));
    }
    const twice = [{ organizationId: 7, url: "https://a.example.com/", secret }, { organizationId: 7, url: "https://b.example.com/", secret }];
    expect(problems(twice)).toEqual(["webhooks: organization 7 has more than one endpoint; give each organization one"]);
  });

  it("read WEBHOOKS_FILE and add WEBHOOKS_JSON to it", () => {
    const dir = mkdtempSync(join(tmpdir(), "wh-"));
    const file = join(dir, "webhooks.json");
    writeFileSync(file, JSON.stringify([{ organizationId: 1, url: "https://a.example.com/", secret }]));
    const endpoints = loadWebhookEndpoints({ webhooksFile: file, webhooksJson: JSON.stringify([{ organizationId: 2, url: "https://b.example.com/", secret }]) });
    expect(endpoints.map((e) => e.organizationId)).toEqual([1, 2]);
    expect(() => loadWebhookEndpoints({ webhooksFile: join(dir, "missing.json") })).toThrow(/WEBHOOKS_FILE="[^"]+missing\.json" cannot be read \(ENOENT\)/);
  });

  it("a whsec_ secret inside any log line is scrubbed", () => {
    expect(scrubSecrets(`{"msg":"x","err":"bad ${secret}"}`)).toBe(`{"msg":"x","err":"bad whsec_[redacted]"}`);
  });
});

describe("the event message", () => {
  const row = {
    id: "12",
    txid: "900",
    task_id: 5,
    organization_id: 7,
    workspace_id: 3,
    external_id: null,
    kind: "REPROCESSED",
    from_status: 42,
    to_status: 30,
    reason: "reprocess requested by ann",
    actor: "ann",
    sweep_id: null,
    request_id: "q:1:2",
    stuck_since: null,
    created_at: new Date("2026-12-01T10:00:00Z"),
    details: { restartCount: 2, fromLocation: "INBOX", discardedEdits: { secret: "customer text" }, assignmentsBefore: [], forced: true },
  };

  it("keeps the documented details only (never discarded edits or assignments) and names unknown status codes null", () => {
    const m = toEventMessage({ ...row, to_status: 99 });
    expect(m).toMatchObject({ id: "evt_12", type: "task.reprocessed", fromStatus: { code: 42, name: "ProcessingFailed" }, toStatus: { code: 99, name: null } });
    expect(m.details).toEqual({ restartCount: 2, fromLocation: "INBOX", forced: true });
    expect(JSON.parse(webhookBody(m))).toEqual({ type: "task.reprocessed", timestamp: "2026-12-01T10:00:00.000Z", data: JSON.parse(JSON.stringify(m)) });
  });
});

describe("the retry schedule", () => {
  it("doubles from the first delay up to the cap, with at most 20 % jitter", () => {
    const backoff = webhookBackoff(10_000, 3_600_000);
    for (const [attempt, base] of [[1, 10_000], [2, 20_000], [3, 40_000], [10, 3_600_000], [500, 3_600_000]] as const) {
      const d = backoff(attempt);
      expect(d, `attempt ${attempt}`).toBeGreaterThanOrEqual(base * 0.8);
      expect(d, `attempt ${attempt}`).toBeLessThanOrEqual(base * 1.2);
    }
  });
});
