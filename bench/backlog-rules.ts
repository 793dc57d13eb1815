// The benchmark's recoveries are a backlog on purpose, not an outage: the hold (docs/safety.md)
// would rightly refuse to revert 100,000 tasks at once, so the figures that measure how fast a
// backlog drains switch it off for the incident's status. Everything else is the default rules.
import { buildRules, type Rule } from "../src/rules/rules.js";

export const BACKLOG_OVERRIDES = { ProcessingInProgress: { hold: false } } as const;

export const backlogRules = (): Rule[] => buildRules(BACKLOG_OVERRIDES);
