// The operator console's pages: pure functions of state → HTML. Server-rendered, no script, no
// request to anywhere else (the style is inline), usable on a phone (one column below 48em, wide
// tables scroll on their own) and with a keyboard (native forms and <details>, every field with a
// <label>, a skip link, visible focus). Every value from the database or a request is escaped.
import { formatDuration } from "../../rules/duration.js";
import { pauseRule, type Pause } from "../../sweep/pause.js";
import { statusName } from "../../rules/status.js";
import type { ConsoleState, RuleChoice, Section } from "./state.js";

export const CONSOLE_PATH = "/admin/console";
export const BOARD_LINK = "/admin/queues";

export const esc = (value: unknown): string =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Marks a string as already-escaped HTML. */
type Html = string;
const join = (parts: readonly Html[]): Html => parts.join("");

export interface PageOptions {
  csrfToken: string;
  actionsEnabled: boolean;
  /** Which action just succeeded (a fixed word, from the redirect after a POST). */
  done?: string | null;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--warn:#9a3412;--warnbg:#fff4e5;--ok:#166534;--okbg:#ecfdf3;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b3;--line:#30363d;--warn:#fdba74;--warnbg:#2b1a0e;--ok:#86efac;--okbg:#0f2a1a;--accent:#8ab4f8}}
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}a:focus,button:focus,input:focus,select:focus,summary:focus{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:6px;z-index:2}
header{padding:12px 16px;border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:8px 16px;align-items:baseline}
header h1{font-size:1.25rem;margin:0}nav{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:.95rem}
main{padding:8px 16px 48px;max-width:80rem}section{margin:20px 0}h2{font-size:1.1rem;margin:0 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:var(--muted)}.bad{color:var(--warn);font-weight:600}
.note{padding:8px 12px;border-radius:6px;margin:8px 0}.note.warn{background:var(--warnbg);color:var(--warn)}.note.ok{background:var(--okbg);color:var(--ok)}
details{margin:4px 0}summary{cursor:pointer;color:var(--accent);min-height:44px;display:flex;align-items:center}
form.act{display:grid;gap:8px;max-width:32rem;padding:8px 0}label{display:grid;gap:2px;font-size:.9rem}
input,select,button{font:inherit;padding:8px;min-height:44px;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
button{background:var(--accent);color:#fff;border:0;font-weight:600;cursor:pointer}fieldset{border:1px solid var(--line);border-radius:6px}
ul.trail{margin:4px 0;padding-left:18px;font-size:.88rem}
@media (max-width:48em){body{font-size:17px}main{padding:8px 10px 48px}
table,tbody,tr,td{display:block;width:100%}thead{position:absolute;left:-9999px}tr{border:1px solid var(--line);border-radius:6px;margin:0 0 10px;padding:4px 0}
td{border:0;padding:3px 10px;display:grid;grid-template-columns:minmax(7em,40%) 1fr;gap:8px}td.n{text-align:left}
td::before{content:attr(data-label);color:var(--muted);font-weight:600}td:not([data-label])::before{content:""}td:empty{display:none}}
ul.attention{margin:8px 0;padding-left:20px}
`;

const SECTIONS = [
  ["rules", "Rules"],
  ["pauses", "Pauses"],
  ["sweeps", "Sweeps"],
  ["escalated", "Escalated"],
  ["outbox", "Outbox"],
  ["given-up", "Given up"],
  ["audit", "Audit trail"],
] as const;

function layout(title: string, body: Html): Html {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${esc(title)}</title><style>${STYLE}</style></head><body>
<a class="skip" href="#main">Skip to content</a>
<header><h1>Task watchdog — operator console</h1><nav aria-label="Sections">${SECTIONS.map(([id, name]) => `<a href="${CONSOLE_PATH}#${id}">${name}</a>`).join("")}<a href="${BOARD_LINK}">Bull Board</a></nav></header>
<main id="main">${body}</main></body></html>`;
}

/** On a phone each row becomes a card whose cells carry their column's name (data-label, shown by the style). */
const table = (head: readonly string[], rows: readonly Html[][], empty: string): Html =>
  rows.length === 0
    ? `<p class="muted">${esc(empty)}</p>`
    : `<div class="scroll"><table><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
        .map((r) => `<tr>${r.map((cell, i) => (head[i] ? cell.replace(/^<td/, `<td data-label="${esc(head[i])}"`) : cell)).join("")}</tr>`)
        .join("")}</tbody></table></div>`;
const td = (v: unknown, cls = "") => `<td${cls ? ` class="${cls}"` : ""}>${esc(v)}</td>`;
const tdHtml = (html: Html) => `<td>${html}</td>`;
const time = (d: Date | string | null | undefined) => (d ? `<time datetime="${esc(new Date(d).toISOString())}">${esc(new Date(d).toISOString().replace(".000Z", "Z"))}</time>` : "—");
const ago = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? "—" : formatDuration(Math.max(0, Math.round(seconds))));

function unavailable<T>(section: Section<T>, render: (value: T) => Html): Html {
  return section.ok ? render(section.value) : `<p class="note warn" role="status">Could not read this part: ${esc(section.error)}</p>`;
}

let formSeq = 0;
/** The operator's name and reason, asked by every action. */
function operatorFields(id: string): Html {
  return `<label for="${id}-by">Your name (audited)<input id="${id}-by" name="by" required maxlength="200" autocomplete="name"></label>
<label for="${id}-reason">Reason (audited)<input id="${id}-reason" name="reason" required maxlength="500"></label>`;
}

function actionForm(o: PageOptions, action: string, summary: string, fields: Html, button: string): Html {
  if (!o.actionsEnabled) return "";
  const id = `f${(formSeq += 1)}`;
  return `<details><summary>${esc(summary)}</summary><form class="act" method="post" action="${CONSOLE_PATH}/${action}">
<input type="hidden" name="csrf" value="${esc(o.csrfToken)}">${fields.replaceAll("{id}", id)}${operatorFields(id)}<button type="submit">${esc(button)}</button></form></details>`;
}

const hidden = (name: string, value: string) => `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`;

const DONE: Record<string, string> = {
  pause: "Paused. The pause is in force from the next sweep on every replica.",
  resume: "Resumed.",
  release: "Released: a sweep is queued that acts on the held tasks.",
  replay: "Replay queued: a worker sends the events with their original ids.",
};

export function renderConsole(state: ConsoleState, rules: readonly RuleChoice[], o: PageOptions): Html {
  formSeq = 0;
  const notice = o.done && DONE[o.done] ? `<p class="note ok" role="status">${esc(DONE[o.done])} It is in the audit trail below.</p>` : "";
  const mode = o.actionsEnabled
    ? `<p class="muted">Actions are on (CONSOLE_ACTIONS_ENABLED). Each one asks for your name and a reason and is written to the audit trail, exactly as the <code>watchdog</code> CLI does.</p>`
    : `<p class="note warn">Read-only: actions are off. Set CONSOLE_ACTIONS_ENABLED=true to pause, resume, release and replay from here, or use the <code>watchdog</code> CLI.</p>`;
  return layout(
    "Task watchdog — operator console",
    join([
      notice,
      `<p class="muted">As of ${time(state.at)} (database clock). Reload the page to refresh.</p>`,
      attention(state),
      mode,
      rulesSection(state, o),
      pausesSection(state, rules, o),
      sweepsSection(state),
      escalatedSection(state),
      outboxSection(state),
      givenUpSection(state, o),
      auditSection(state),
    ]),
  );
}

/** What needs a person now, first on the page (on a phone, before any table). */
function attention(state: ConsoleState): Html {
  const items: Html[] = [];
  if (state.held.ok) for (const [status, h] of Object.entries(state.held.value)) items.push(`<a href="#rules">${esc(status)} is held</a>: ${esc(h.stuck)} stuck, limit ${esc(h.limit)}`);
  if (state.pauses.ok) for (const p of state.pauses.value.open) items.push(`<a href="#pauses">${p.status === null ? "every rule is" : `${esc(statusName(p.status))} is`} paused</a> by ${esc(p.pausedBy)}: ${esc(p.reason)}`);
  if (state.givenUp.ok && state.givenUp.value.total > 0) items.push(`<a href="#given-up">${esc(state.givenUp.value.total)} webhook event(s) given up</a>`);
  if (state.outbox.ok) {
    const { targets, organizations } = state.outbox.value;
    for (const t of targets) if (t.failingEventId && t.organizationId === null) items.push(`<a href="#outbox">the events queue</a>: deliveries failing`);
    // One line however many organizations fail (a receiver many of them share, down): the section lists them.
    // Listed first when failing: with one, it is the first organization listed.
    const first = targets.find((t) => t.organizationId !== null);
    if (organizations.failing === 1) items.push(`<a href="#outbox">organization ${esc(first?.organizationId)}</a>: deliveries failing`);
    else if (organizations.failing > 1) items.push(`<a href="#outbox">${esc(organizations.failing)} organizations</a>: deliveries failing`);
  }
  if (state.sweeps.ok && state.sweeps.value[0]?.result?.interrupted) items.push(`<a href="#sweeps">the last sweep was interrupted</a>`);
  if (state.escalated.ok && state.escalated.value.total > 0) items.push(`<a href="#escalated">${esc(state.escalated.value.total)} task(s) need support</a>`);
  const failed = (["rules", "held", "pauses", "sweeps", "outbox", "givenUp"] as const).filter((k) => !state[k].ok);
  if (failed.length > 0) items.push(`some parts could not be read (${esc(failed.join(", "))}): see below`);
  return items.length === 0
    ? `<p class="note ok" role="status">Nothing needs attention: nothing held, paused or given up.</p>`
    : `<div class="note warn" role="status"><strong>Needs attention</strong><ul class="attention">${items.map((i) => `<li>${i}</li>`).join("")}</ul></div>`;
}

function rulesSection(state: ConsoleState, o: PageOptions): Html {
  const held = state.held.ok ? state.held.value : {};
  const rate = state.rateHeld;
  const body = unavailable(state.rules, (rows) =>
    table(
      ["Rule (status)", "Workspaces", "Stuck now", "Oldest for", "Threshold", "Action", "Hold (level)", "Hold (rate)", ""],
      rows.map((r) => {
        const h = held[r.status];
        const level = h
          ? `<span class="bad">HELD by the last sweep: ${esc(h.stuck)} stuck &gt; limit ${esc(h.limit)}</span>`
          : r.holdLimit === null
            ? `<span class="muted">off</span>`
            : r.wouldHold
              ? `<span class="bad">would hold (${esc(r.count)} &gt; ${esc(r.holdLimit)})</span>`
              : `limit ${esc(r.holdLimit)}`;
        const rateCell = rate === null ? `<span class="muted">not in this version</span>` : !rate.ok ? `<span class="muted">unavailable</span>` : rate.value[r.status] ? `<span class="bad">HELD: ${esc(rate.value[r.status]!.detail)}</span>` : "no";
        const release =
          h && r.workspaces === "others"
            ? actionForm(o, "release", `Release ${r.status}…`, hidden("rule", r.status), `Release ${r.status} for one sweep`)
            : "";
        return [
          td(`${r.status} (${r.code})`),
          td(r.workspaces === "others" ? "others" : r.workspaces.join(", ")),
          td(r.count, "n"),
          td(ago(r.oldestForSeconds)),
          td(formatDuration(r.stuckAfterSeconds)),
          td(r.action),
          tdHtml(level),
          tdHtml(rateCell),
          tdHtml(release),
        ];
      }),
      "No rules.",
    ),
  );
  const heldNote = !state.held.ok ? `<p class="note warn">The last sweep's holds could not be read: ${esc(state.held.error)}</p>` : "";
  return `<section id="rules" aria-labelledby="rules-h"><h2 id="rules-h">Rules: stuck now and holds</h2>${heldNote}${body}</section>`;
}

function pauseRow(p: Pause, o: PageOptions): Html[] {
  const rule = pauseRule(p.status);
  return [
    td(rule),
    td(p.pausedBy),
    td(p.reason),
    tdHtml(time(p.pausedAt)),
    tdHtml(p.expiresAt ? time(p.expiresAt) : "until resumed"),
    tdHtml(actionForm(o, "resume", `Resume ${rule}…`, hidden("rule", p.status === null ? "" : statusName(p.status)), `Resume ${rule}`)),
  ];
}

function pausesSection(state: ConsoleState, rules: readonly RuleChoice[], o: PageOptions): Html {
  const pauseForm = actionForm(
    o,
    "pause",
    "Pause…",
    `<label for="{id}-rule">Rule<select id="{id}-rule" name="rule"><option value="">Every rule</option>${rules.map((r) => `<option value="${esc(r.name)}">${esc(r.name)} (${esc(r.code)})</option>`).join("")}</select></label>
<label for="{id}-for">For (ISO-8601 duration such as PT2H; empty = until resumed)<input id="{id}-for" name="for" pattern="P.*" placeholder="PT2H"></label>`,
    "Pause",
  );
  const body = unavailable(state.pauses, ({ open, recent }) =>
    join([
      open.length > 0 ? `<p class="bad">Paused: the sweep reports what it would do and acts on none of it.</p>` : `<p>Nothing is paused.</p>`,
      table(["Rule", "By", "Why", "Since", "Until", ""], open.map((p) => pauseRow(p, o)), "No pause in force."),
      open.length > 1 ? actionForm(o, "resume", "Resume every pause…", hidden("rule", ""), "Resume every pause") : "",
      pauseForm,
      recent.length > 0
        ? `<h3>Recent pauses</h3>${table(["Rule", "By", "Why", "Since", "Ended", "How", "Ended by"], recent.map((p) => [td(pauseRule(p.status)), td(p.pausedBy), td(p.reason), tdHtml(time(p.pausedAt)), tdHtml(time(p.endedAt)), td(p.endedHow ?? "—"), td(p.endedBy ?? "—")]), "")}`
        : "",
    ]),
  );
  return `<section id="pauses" aria-labelledby="pauses-h"><h2 id="pauses-h">Pauses</h2>${body}</section>`;
}

function sweepsSection(state: ConsoleState): Html {
  const body = unavailable(state.sweeps, (runs) =>
    table(
      ["Finished", "Job", "Result", "Duration", "Interrupted", "Held / paused / failed"],
      runs.map((s) => {
        const r = s.result;
        const result =
          s.state === "failed"
            ? `<span class="bad">failed: ${esc(s.failedReason ?? "")}</span>`
            : r
              ? esc(
                  `${s.dryRun ? `dry run: would revert ${r.wouldRevert ?? 0}, move ${r.wouldMoveToHistory ?? 0} to history, flag ${r.wouldFlag ?? 0} (did nothing)` : `${r.reverted} reverted, ${r.movedToHistory} moved to history, ${r.flagged} flagged, ${r.escalated} escalated`}${r.released.length ? `; released ${r.released.join(", ")}` : ""}`,
                )
              : "—";
        const notes = r ? [r.held.length ? `held: ${r.held.join(", ")}` : "", r.paused.length ? `paused: ${r.paused.join(", ")}` : "", r.failed.length ? `failed: ${r.failed.join(", ")}` : ""].filter(Boolean).join("; ") : "";
        return [tdHtml(time(s.finishedAt)), td(s.jobId), tdHtml(result), td(r ? formatDuration(r.durationMs / 1000) : "—"), tdHtml(r?.interrupted ? `<span class="bad">yes</span>` : "no"), td(notes || "—")];
      }),
      "No sweep has finished yet (or Redis no longer keeps them).",
    ),
  );
  return `<section id="sweeps" aria-labelledby="sweeps-h"><h2 id="sweeps-h">Last sweeps</h2>${body}</section>`;
}

function escalatedSection(state: ConsoleState): Html {
  const body = unavailable(state.escalated, ({ minReverts, total, tasks }) =>
    join([
      `<p>${esc(total)} task(s) reverted ${esc(minReverts)} times or more and still warned (they need support).</p>`,
      table(
        ["Task", "Status", "Workspace", "Reverts", "Warning", "Audit trail (latest)"],
        tasks.map((t) => [
          td(t.id),
          td(`${statusName(t.status)} (${t.status})`),
          td(t.workspaceId),
          td(t.autoRevertCount, "n"),
          td(t.warningReason ?? ""),
          tdHtml(
            t.events.length === 0
              ? "—"
              : `<ul class="trail">${t.events.map((e) => `<li>${time(e.created_at)} ${esc(e.kind)} ${esc(statusName(e.from_status))}${e.to_status === null ? "" : ` → ${esc(statusName(e.to_status))}`} by ${esc(e.actor)}: ${esc(e.reason)}</li>`).join("")}</ul>`,
          ),
        ]),
        "None.",
      ),
    ]),
  );
  return `<section id="escalated" aria-labelledby="escalated-h"><h2 id="escalated-h">Escalated tasks</h2>${body}</section>`;
}

function outboxSection(state: ConsoleState): Html {
  const label = (t: { target: string; organizationId: number | null }) => (t.organizationId !== null ? `organization ${t.organizationId}` : t.target === "queue" ? "events queue" : "dispatch (to the organizations)");
  const body = unavailable(state.outbox, ({ targets, organizations: o }) => {
    const listed = targets.filter((t) => t.organizationId !== null).length;
    const note =
      o.total > listed
        ? `<p class="note">${esc(listed)} of ${esc(o.total)} organizations with an endpoint listed (${esc(o.failing)} failing, ${esc(o.pending)} with undelivered events): the failing and those waiting longest first.</p>`
        : "";
    return join([note, table(
      ["Target", "Pending", "Oldest pending", "Delivered", "State"],
      targets.map((t) => [
        td(label(t)),
        td(t.pending === null ? "yes" : t.pending, "n"),
        td(t.pending === 0 ? "—" : ago(t.oldestAgeSeconds)),
        td(t.deliveredCount ?? "—", "n"),
        tdHtml(
          t.failingEventId
            ? `<span class="bad">failing since ${time(t.failingSince)}: evt_${esc(t.failingEventId)}, ${esc(t.failedAttempts)} attempt(s): ${esc(t.lastError ?? "")}${t.nextAttemptAt ? `; next try ${time(t.nextAttemptAt)}` : ""}</span>`
            : "ok",
        ),
      ]),
      "No relay target: neither the events queue nor any webhook is configured.",
    )]);
  });
  return `<section id="outbox" aria-labelledby="outbox-h"><h2 id="outbox-h">Outbox: delivery per organization</h2>${body}</section>`;
}

function givenUpSection(state: ConsoleState, o: PageOptions): Html {
  const replayForm = actionForm(
    o,
    "replay",
    "Replay events…",
    `<fieldset><legend>Which events (one way)</legend>
<label for="{id}-gu"><span><input id="{id}-gu" type="checkbox" name="givenUp" value="true"> every given-up event not yet replayed (narrow with the organization)</span></label>
<label for="{id}-ev">Event ids (evt_42, separated by spaces or commas)<input id="{id}-ev" name="event" inputmode="text"></label>
<label for="{id}-org">Organization<input id="{id}-org" name="organization" inputmode="numeric" pattern="[0-9]*"></label>
<label for="{id}-since">Since (UTC, with an organization)<input id="{id}-since" name="since" type="datetime-local" step="1"></label>
<label for="{id}-until">Until (UTC)<input id="{id}-until" name="until" type="datetime-local" step="1"></label></fieldset>`,
    "Replay",
  );
  const allForm = actionForm(o, "replay", "Replay every given-up event…", hidden("givenUp", "true"), "Replay every given-up event");
  const body = unavailable(state.givenUp, ({ total, events }) =>
    join([
      total > 0 ? `<p class="bad">${esc(total)} event(s) given up (failed past WEBHOOK_RETRY_FOR) and not replayed.</p>` : `<p>No given-up event waits for a replay.</p>`,
      table(
        ["Event", "Organization", "Given up", "Attempts", "Replay", "Last error"],
        events.map((e) => [td(e.eventId), td(e.organizationId), tdHtml(time(e.givenUpAt)), td(e.attempts, "n"), td(e.replayPending ? "pending" : "—"), td(e.lastError ?? "")]),
        "",
      ),
      total > 0 ? allForm : "",
      replayForm,
    ]),
  );
  const replays = unavailable(state.replays, (rows) =>
    rows.length === 0
      ? ""
      : `<h3>Recent replays</h3>${table(
          ["Replay", "Asked", "By", "Why", "Events", "Delivered", "Abandoned", "Last error"],
          rows.map((r) => [td(r.replayId), tdHtml(time(r.at)), td(r.by), td(r.reason ?? ""), td(r.events, "n"), td(r.delivered, "n"), td(r.abandoned, "n"), td(r.lastError ?? "")]),
          "",
        )}`,
  );
  return `<section id="given-up" aria-labelledby="given-up-h"><h2 id="given-up-h">Given-up webhook events and replays</h2>${body}${replays}</section>`;
}

function auditSection(state: ConsoleState): Html {
  const body = unavailable(state.actions, (rows) =>
    table(
      ["When", "Action", "By", "Why", "From", "What"],
      rows.map((a) => [tdHtml(time(a.createdAt)), td(a.action), td(a.actor), td(a.reason ?? "—"), td(a.via), td(JSON.stringify(a.details))]),
      "No operator action yet.",
    ),
  );
  return `<section id="audit" aria-labelledby="audit-h"><h2 id="audit-h">Audit trail: operator actions</h2>${body}</section>`;
}

/** A refused or failed action: what was wrong, and the way back. */
export function renderMessage(title: string, message: string): Html {
  return layout(`Task watchdog — ${title}`, `<h2>${esc(title)}</h2><p class="note warn" role="alert">${esc(message)}</p><p><a href="${CONSOLE_PATH}">Back to the console</a></p>`);
}
