// The console's views are pure functions of state → HTML: what a hostile value becomes, what the
// read-only page leaves out, and that a section that could not be read says so while the rest shows.
import { describe, expect, it } from "vitest";
import type { ConsoleState } from "../../src/ops/console/state.js";
import { renderConsole, renderMessage } from "../../src/ops/console/views.js";

const at = new Date("2026-12-04T10:00:00Z");
const ok = <T,>(value: T) => ({ ok: true as const, value });

function state(overrides: Partial<ConsoleState> = {}): ConsoleState {
  return {
    at,
    rules: ok([{ status: "ProcessingInProgress", code: 41, workspaces: "others" as const, action: "revert", stuckAfterSeconds: 14_400, count: 12, oldestSince: null, oldestForSeconds: 20_000, sampleTaskIds: [], holdLimit: 500, wouldHold: false }]),
    held: ok({ ProcessingInProgress: { stuck: 900, limit: 500, maxTasks: 500, maxShare: null, population: null } }),
    rateHeld: null,
    pauses: ok({ open: [{ id: "1", status: null, reason: "<script>alert(1)</script>", pausedBy: "eve\" onmouseover=\"x", pausedAt: at, expiresAt: null, endedAt: null, endedBy: null, endedHow: null }], recent: [] }),
    sweeps: ok([]),
    escalated: ok({ minReverts: 3, total: 0, tasks: [] }),
    outbox: ok({ targets: [], organizations: { total: 0, failing: 0, pending: 0 } }),
    givenUp: ok({ total: 1, events: [{ eventId: "evt_7", organizationId: 7, givenUpAt: at, attempts: 3, lastError: "answered 503", jobId: "webhook-7-1", replayPending: false }] }),
    replays: ok([]),
    actions: ok([]),
    ...overrides,
  };
}
const rules = [{ code: 41, name: "ProcessingInProgress" }];

describe("console views", () => {
  it("escapes every value from the database: a reason or a name cannot become markup", () => {
    const html = renderConsole(state(), rules, { csrfToken: "t".repeat(43), actionsEnabled: true });
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("eve&quot; onmouseover=&quot;x");
  });

  it("with actions on, every form carries the session token and asks for a name and a reason, each with a label", () => {
    const html = renderConsole(state(), rules, { csrfToken: "TOKEN_abc", actionsEnabled: true });
    const forms = html.match(/<form[\s\S]*?<\/form>/g) ?? [];
    expect(forms.length).toBeGreaterThanOrEqual(4); // release, resume, pause, replay (all), replay
    for (const form of forms) {
      expect(form).toContain('name="csrf" value="TOKEN_abc"');
      const by = /<input id="([^"]+)" name="by" required/.exec(form)?.[1];
      const reason = /<input id="([^"]+)" name="reason" required/.exec(form)?.[1];
      expect(form).toContain(`<label for="${by}">`);
      expect(form).toContain(`<label for="${reason}">`);
    }
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length); // no duplicate ids: each label names one field
  });

  it("read-only: no form at all, and the page says how to switch actions on", () => {
    const html = renderConsole(state(), rules, { csrfToken: "t", actionsEnabled: false });
    expect(html).not.toContain("<form");
    expect(html).toContain("CONSOLE_ACTIONS_ENABLED=true");
  });

  it("a section that could not be read says why; the others still show; the rate hold's slot says it is not in this version", () => {
    const html = renderConsole(state({ sweeps: { ok: false, error: "redis: no answer within 5000 ms" } }), rules, { csrfToken: "t", actionsEnabled: false });
    expect(html).toContain("Could not read this part: redis: no answer within 5000 ms");
    expect(html).toContain("HELD by the last sweep: 900 stuck &gt; limit 500");
    expect(html).toContain("not in this version");
    expect(html).toContain("evt_7");
  });

  it("the attention list comes first: held, paused, given up", () => {
    const html = renderConsole(state(), rules, { csrfToken: "t", actionsEnabled: false });
    const attention = /<strong>Needs attention<\/strong>([\s\S]*?)<\/div>/.exec(html)?.[1] ?? "";
    expect(attention).toContain("ProcessingInProgress is held");
    expect(attention).toContain("every rule is paused");
    expect(attention).toContain("1 webhook event(s) given up");
    expect(html.indexOf("Needs attention")).toBeLessThan(html.indexOf('id="rules"'));
  });

  it("one failing organization is named in the attention list; several, counted in one line", () => {
    const org = (organizationId: number, failing: boolean) => ({ target: `webhook:${organizationId}`, organizationId, pending: null, oldestAgeSeconds: 60, failingEventId: failing ? "9" : null, failingSince: failing ? at : null, failedAttempts: failing ? 2 : 0, lastError: failing ? "ECONNREFUSED" : null, nextAttemptAt: null, deliveredCount: 0 });
    const one = renderConsole(state({ outbox: ok({ targets: [org(12, true), org(7, false)], organizations: { total: 2, failing: 1, pending: 2 } }) }), rules, { csrfToken: "t".repeat(43), actionsEnabled: false });
    expect(one.match(/deliveries failing/g)).toHaveLength(1);
    expect(one).toContain(`<a href="#outbox">organization 12</a>: deliveries failing`);
    const many = renderConsole(state({ outbox: ok({ targets: [org(12, true), org(13, true)], organizations: { total: 90, failing: 60, pending: 60 } }) }), rules, { csrfToken: "t".repeat(43), actionsEnabled: false });
    expect(many).toContain(`<a href="#outbox">60 organizations</a>: deliveries failing`);
    expect(many).toContain("2 of 90 organizations with an endpoint listed (60 failing, 60 with undelivered events)");
  });

  it("a dry run's row says what it would do, not \"0 reverted\" (issue 21: a dry run reverts nothing)", () => {
    const run = (dryRun: boolean, counts: Record<string, number>) => ({
      jobId: "9", state: "completed" as const, finishedAt: at, dryRun, failedReason: null,
      result: { reverted: 0, movedToHistory: 0, flagged: 0, escalated: 0, ...counts, held: [], paused: [], failed: [], released: [], durationMs: 12, interrupted: false },
    });
    const dry = renderConsole(state({ sweeps: ok([run(true, { wouldRevert: 4, wouldMoveToHistory: 2, wouldFlag: 1 })]) }), rules, { csrfToken: "t", actionsEnabled: false });
    const row = /<section id="sweeps"[\s\S]*?<\/section>/.exec(dry)?.[0] ?? "";
    expect(row).toContain("dry run: would revert 4, move 2 to history, flag 1 (did nothing)");
    expect(row).not.toMatch(/\d+ reverted/);
    const real = renderConsole(state({ sweeps: ok([run(false, { reverted: 3, escalated: 1 })]) }), rules, { csrfToken: "t", actionsEnabled: false });
    expect(real).toContain("3 reverted, 0 moved to history, 0 flagged, 1 escalated");
  });

  it("a refusal page escapes the message and links back", () => {
    const html = renderMessage("Not done", "BadRequest: <b>x</b>");
    expect(html).toContain("BadRequest: &lt;b&gt;x&lt;/b&gt;");
    expect(html).toContain('href="/admin/console"');
  });
});

describe("the rate hold's slot", () => {
  it("is null (\"not in this version\") while no rule has a rate hold, and names the rate when the last sweep held a status by it", async () => {
    const { rateHolds } = await import("../../src/ops/console/read-state.js");
    const { buildRules } = await import("../../src/rules/rules.js");
    const rules = buildRules();
    const held = ok({ ProcessingInProgress: { stuck: 900, limit: 500, rate: { reverts: 420, window: "PT15M", wouldRevert: 300, limit: 400 } } });
    const withRate = rules.some((r) => "rateHold" in r);
    expect(rateHolds(rules, held)).toEqual(withRate ? ok({ ProcessingInProgress: { detail: "420 reverted in the last PT15M, 300 more stuck, rate limit 400" } }) : null);
    const fake = rules.map((r) => ({ ...r, rateHold: null }));
    expect(rateHolds(fake, held)).toEqual(ok({ ProcessingInProgress: { detail: "420 reverted in the last PT15M, 300 more stuck, rate limit 400" } }));
    expect(rateHolds(fake, ok({}))).toEqual(ok({}));
  });
});
