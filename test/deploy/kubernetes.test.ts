// deploy/kubernetes: the base and the example overlay (with the monitoring component) render with
// `kubectl kustomize`, every object is valid against the Kubernetes schemas (kubernetes-models,
// and its prometheus-operator models for the two CRDs), and the manifests agree with the code: the
// probe paths answer on the ops listener, ports and variables are the settings', the grace period
// outlasts SHUTDOWN_TIMEOUT, and no secret value is written in a file.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { ConfigMap, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { SETTINGS, type Setting } from "../../src/platform/config/settings.js";
import { startApp } from "../integration/http-app.js";
import { API_READINESS_PATH } from "../../src/api/readiness-path.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown };

// One model class per apiVersion/kind we ship; anything else fails the test rather than going unchecked.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "v1/Secret": Secret,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

function render(dir: string): K8sObject[] {
  const run = spawnSync("kubectl", ["kustomize", dir], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === "ENOENT") throw new Error("kubectl is not installed (.ci/run installs it: Debian package kubernetes-client)");
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  return parseAllDocuments(run.stdout).map((doc) => doc.toJS() as K8sObject);
}

const base = render("deploy/kubernetes/base");
const overlay = render("deploy/kubernetes/overlays/example");
const find = <T = K8sObject>(objects: K8sObject[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name)) as T & K8sObject;

interface Container {
  name: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string } }[];
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  startupProbe?: { httpGet: { path: string; port: string | number } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
}
const podOf = (o: K8sObject) => (o as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const setting = (env: string): Setting | undefined => Object.values(SETTINGS as Record<string, Setting>).find((s) => s.env === env);

describe.each([
  ["the base", base],
  ["the example overlay with monitoring", overlay],
])("%s, rendered", (_, objects) => {
  it("holds only objects that validate against their Kubernetes schema", () => {
    expect(objects.length).toBeGreaterThanOrEqual(7);
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model, `no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object as never).validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
    }
  });

  it("writes no secret: no Secret object, and every secret setting comes from a secretKeyRef", () => {
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    for (const o of objects.filter((o) => o.kind === "Deployment" || o.kind === "Job")) {
      for (const c of podOf(o).containers) {
        for (const e of c.env ?? []) {
          if (setting(e.name)?.secret) {
            expect(e.value, `${e.name} in ${o.kind}/${o.metadata.name}`).toBeUndefined();
            expect(e.valueFrom?.secretKeyRef?.key).toBe(e.name);
          }
        }
      }
    }
    const configMap = find<{ data: Record<string, string> }>(objects, "ConfigMap");
    for (const key of Object.keys(configMap.data)) expect(setting(key)?.secret, key).toBeFalsy();
  });
});

describe("the Deployment agrees with the code", () => {
  const deployment = find(base, "Deployment", "task-watchdog");
  const pod = podOf(deployment);
  const container = pod.containers[0]!;
  const configMap = find<{ data: Record<string, string> }>(base, "ConfigMap");
  const envValue = (name: string) => container.env?.find((e) => e.name === name)?.value;
  const port = (name: string) => container.ports?.find((p) => p.name === name)?.containerPort;

  it("every variable it sets, directly or from its ConfigMap, is a setting of src/platform/config/settings.ts", () => {
    const names = [...(container.env ?? []).map((e) => e.name), ...Object.keys(configMap.data)];
    expect(names.filter((n) => setting(n) === undefined)).toEqual([]);
    expect(container.envFrom?.[0]?.configMapRef?.name).toBe(configMap.metadata.name);
    expect(container.args).toEqual(["start"]);
  });

  it("ports are the listeners' defaults: the API on API_PORT, the ops listener on OPS_PORT", () => {
    expect(port("api")).toBe(Number(SETTINGS.apiPort.default));
    expect(port("ops")).toBe(Number(SETTINGS.opsPort.default));
    expect(envValue("API_PORT")).toBe(String(port("api")));
    expect(envValue("OPS_PORT")).toBe(String(port("ops")));
  });

  it("probes ask /healthz (liveness, start-up) on the ops port and /api/readyz (readiness: PostgreSQL only) on the API port, and the running worker answers each there and not on the other", async () => {
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "ops" });
    expect(container.startupProbe?.httpGet).toEqual({ path: "/healthz", port: "ops" });
    expect(container.readinessProbe?.httpGet).toEqual({ path: API_READINESS_PATH, port: "api" });
    const app = await startApp();
    try {
      for (const path of ["/healthz", "/readyz"]) {
        expect((await fetch(`${app.opsUrl}${path}`)).status, path).toBe(200);
        expect((await fetch(`${app.apiUrl}${path}`)).status, path).toBe(404);
      }
      expect(await (await fetch(`${app.apiUrl}${API_READINESS_PATH}`)).json()).toEqual({ status: "ready", checks: { postgres: "ok" } });
      expect((await fetch(`${app.opsUrl}${API_READINESS_PATH}`)).status).toBe(404);
    } finally {
      await app.stop();
    }
  });

  it("the ops Service publishes pods that are not ready: health and metrics stay reachable while the API is out of its Service", () => {
    const ops = find<{ spec: { publishNotReadyAddresses?: boolean } }>(base, "Service", "task-watchdog-ops");
    const api = find<{ spec: { publishNotReadyAddresses?: boolean } }>(base, "Service", "task-watchdog-api");
    expect(ops.spec.publishNotReadyAddresses).toBe(true);
    expect(api.spec.publishNotReadyAddresses).toBeUndefined();
  });

  it("the grace period outlasts the shutdown deadline, and the pod runs as non-root on a read-only root file system", () => {
    const shutdownSeconds = SETTINGS.shutdownTimeoutMs.schema.parse(configMap.data.SHUTDOWN_TIMEOUT ?? SETTINGS.shutdownTimeoutMs.default) / 1000;
    expect(shutdownSeconds).toBe(30);
    // A rollout: the pod leaves its Services' endpoints while the kubelet stops it. The preStop pause
    // keeps it answering until the proxies have stopped sending to it (no requests refused), then
    // SIGTERM starts the shutdown; the grace period holds both.
    const preStopSeconds = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStopSeconds).toBeGreaterThanOrEqual(5);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + shutdownSeconds);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).not.toBe(0);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.resources.requests.memory).toBe("192Mi");
    expect(container.resources.limits.memory).toBe("384Mi");
  });

  it("the migrate Job runs the image's migrate with DATABASE_URL only", () => {
    const job = find(base, "Job", "task-watchdog-migrate");
    const c = podOf(job).containers[0]!;
    expect(c.args).toEqual(["migrate"]);
    expect(c.env?.map((e) => e.name)).toEqual(["DATABASE_URL"]);
    // Long enough for an index built CONCURRENTLY on a 100M-row table (docs/operations.md, "Migrations at scale").
    expect((job as unknown as { spec: { activeDeadlineSeconds: number } }).spec.activeDeadlineSeconds).toBeGreaterThanOrEqual(4 * 3600);
  });

  it("the two Services select the worker's pods: one on the API port, one on the ops port", () => {
    const podLabels = (deployment as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
    for (const [name, portName] of [["task-watchdog-api", "api"], ["task-watchdog-ops", "ops"]] as const) {
      const service = find<{ spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] } }>(base, "Service", name);
      expect(Object.entries(service.spec.selector).every(([k, v]) => podLabels[k] === v), name).toBe(true);
      expect(service.spec.ports).toEqual([{ name: portName, port: port(portName), targetPort: portName }]);
    }
  });
});

describe("the monitoring component", () => {
  it("scrapes /metrics on the ops Service's port, and its PrometheusRule holds deploy/prometheus's rules unchanged", () => {
    const monitor = find<{ spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } }>(overlay, "ServiceMonitor");
    const ops = find<{ metadata: { labels: Record<string, string> } }>(overlay, "Service", "task-watchdog-ops");
    expect(Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => ops.metadata.labels[k] === v)).toBe(true);
    expect(find(overlay, "Service", "task-watchdog-api").metadata).not.toMatchObject({ labels: monitor.spec.selector.matchLabels });
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: "ops", path: "/metrics" })]);
    const rule = find<{ spec: unknown }>(overlay, "PrometheusRule");
    expect(rule.spec).toEqual(parseYaml(readFileSync(`${ROOT}deploy/prometheus/watchdog-rules.yml`, "utf8")));
  });
});
