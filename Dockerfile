# syntax=docker/dockerfile:1
# The task-watchdog worker image.
#   build   – every dependency; generates the Prisma client and compiles TypeScript to dist/
#   deps    – production dependencies only
#   runtime – Node, those dependencies, dist/ and the migrations; runs as the non-root user `node`
# test/packaging/image-steps.test.ts runs these stages' own steps outside a container (CI has no
# Docker engine), so keep to the instructions it understands: FROM, WORKDIR /app, COPY, RUN, ENV,
# USER, EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD.
#
# The image never migrates by itself: run `docker run … <image> migrate` once per release (README, Deploy).

FROM node:24-bookworm-slim AS base
WORKDIR /app

FROM base AS build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY src ./src
RUN npm run build

FROM base AS deps
COPY package.json package-lock.json ./
# --omit=optional too: npm keeps "devOptional" packages under --omit=dev alone, and the lockfile
# marks the Prisma CLI (an optional peer of @prisma/client) so; it would add ~250 MB the worker never
# runs. Also dropped: msgpackr's native speed-up (BullMQ falls back to its JavaScript code).
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund

FROM base AS runtime
# Both listeners on 0.0.0.0: a container's loopback is unreachable from outside (the API for its
# callers, the ops listener for probes and Prometheus); the worker then refuses to start without
# BULL_BOARD_USER and BULL_BOARD_PASSWORD. Publish only the API port where callers are external.
ENV NODE_ENV=production API_HOST=0.0.0.0 API_PORT=3000 OPS_HOST=0.0.0.0 OPS_PORT=3001
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY prisma/migrations ./prisma/migrations
USER node
EXPOSE 3000 3001
# No curl in a slim image: Node's own fetch asks the ops listener's /healthz (liveness; /readyz also checks Redis and PostgreSQL).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OPS_PORT || 3001) + '/healthz').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (graceful shutdown within SHUTDOWN_TIMEOUT).
# Any other CLI command replaces CMD: `docker run … <image> migrate`, `… sweep --dry-run --wait`.
# The preload starts OpenTelemetry tracing before the application loads, when OTEL_* variables ask
# for it (docs/operations.md, Tracing); without them it does nothing. --max-semi-space-size=8 caps V8's
# young generation (its default grows with the machine's RAM): the worker's peak RSS no longer depends on
# the host, and is 10 MB lower recovering 100k tasks (docs/performance.md); package.json's start says the same.
ENTRYPOINT ["node", "--max-semi-space-size=8", "--import", "./dist/platform/tracing/preload.js", "dist/cli/main.js"]
CMD ["start"]
