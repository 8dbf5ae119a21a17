import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { ANSWER_TIMEOUT_MS } from '../../src/cli/admin-client.js';
import { localServiceUrl, resolveAdminTarget } from '../../src/cli/admin-target.js';
import { loadConfig } from '../../src/config/load.js';
import { ERRORS } from '../../src/errors.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');

type Doc = Record<string, any>;

function kubernetes(): Doc[] {
  const docs: Doc[] = [];
  for (const file of ['configmap.yaml', 'secret.yaml', 'service.yaml', 'servicemonitor.yaml', 'statefulset.yaml', 'prometheusrule.yaml']) {
    for (const doc of parseAllDocuments(read(`deploy/kubernetes/${file}`))) {
      if (doc.errors.length > 0) throw new SyntaxError(`deploy/kubernetes/${file}: ${doc.errors[0]!.message}`);
      docs.push(doc.toJS() as Doc);
    }
  }
  return docs;
}

const find = (docs: Doc[], kind: string, name: string): Doc => {
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`no ${kind} ${name}`);
  return doc;
};

/** The Dockerfile's instructions of the final stage, by keyword. */
function runtimeStage(): Map<string, string[]> {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const out = new Map<string, string[]>();
  for (const line of stages.at(-1)!.split('\n')) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

/**
 * Loads a configuration as LogStack would at start, from a file's text (or none), an environment,
 * and files mounted at absolute paths, which are put in a temporary directory in their stead.
 */
function load(yaml: string | null, env: Record<string, string>, mounts: Record<string, Record<string, string>> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'logstack-deploy-'));
  try {
    let text = yaml;
    for (const [mountPath, files] of Object.entries(mounts)) {
      const at = join(dir, mountPath);
      mkdirSync(at, { recursive: true });
      for (const [name, content] of Object.entries(files)) writeFileSync(join(at, name), content);
      text = text?.split(`${mountPath}/`).join(`${at}/`) ?? null;
    }
    if (text !== null) writeFileSync(join(dir, 'config.yaml'), text);
    return loadConfig({ file: text === null ? undefined : join(dir, 'config.yaml'), env, cwd: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('the Kubernetes example starts once its placeholders are replaced, and not before', async (t) => {
  const docs = kubernetes();
  const set = find(docs, 'StatefulSet', 'logstack');
  const pod = set.spec.template.spec;
  const container = pod.containers[0];
  const volumeOf = (mount: Doc) => pod.volumes.find((v: Doc) => v.name === mount.name);
  const env: Record<string, string> = {};
  for (const e of container.env) if (e.value !== undefined) env[e.name] = e.value;
  const configFile = env.LOGSTACK_CONFIG!;
  const configMount = container.volumeMounts.find((m: Doc) => configFile.startsWith(`${m.mountPath}/`));
  t.ok(configMount, 'LOGSTACK_CONFIG names a file in a mounted volume');
  const configMap = find(docs, 'ConfigMap', volumeOf(configMount).configMap.name);
  const configText = configMap.data[configFile.slice(configMount.mountPath.length + 1)];
  t.notOk(container.envFrom, 'no secret in the environment: they are files, updated in place');

  // The Secrets mounted as volumes, with their placeholders or with real values.
  const secretMounts = (real: boolean) => {
    const mounts: Record<string, Record<string, string>> = {};
    for (const mount of container.volumeMounts) {
      const secretName = volumeOf(mount)?.secret?.secretName;
      if (secretName === undefined) continue;
      const data = find(docs, 'Secret', secretName).stringData as Record<string, string>;
      mounts[mount.mountPath] = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, real && v === 'REPLACE_ME' ? randomBytes(24).toString('hex') : v]));
    }
    return mounts;
  };
  t.throws(() => load(configText, env, secretMounts(false)), { code: ERRORS.CONFIG_INVALID.code }, 'the placeholder secrets are refused');
  const config = load(configText, env, secretMounts(true));
  t.same(Object.values(config.security.api_keys).map((k) => k.name).sort(), ['payments-api', 'user-service']);
  t.ok(config.security.admin_token, 'an admin token');
  t.ok(config.server.reload_on_change, 'changes of the ConfigMap and the Secrets apply without a restart');
  t.ok(container.volumeMounts.every((m: Doc) => m.subPath === undefined), 'no subPath mount: those are never updated');

  const tlsFiles = [config.server.tls.cert_file, config.server.tls.key_file].map((f) => f!.replace(/^.*logstack-deploy-[^/]+/, ''));
  const tlsMount = container.volumeMounts.find((m: Doc) => tlsFiles[0]!.startsWith(`${m.mountPath}/`));
  t.ok(tlsMount && volumeOf(tlsMount).secret, 'the certificate comes from a mounted Secret');
  const tlsSecret = find(docs, 'Secret', volumeOf(tlsMount).secret.secretName);
  t.equal(tlsSecret.type, 'kubernetes.io/tls');
  for (const file of tlsFiles) t.ok(Object.hasOwn(tlsSecret.stringData, file.slice(tlsMount.mountPath.length + 1)), `${file} is in it`);
  for (const probe of [container.livenessProbe, container.startupProbe, container.readinessProbe]) t.equal(probe.httpGet.scheme, 'HTTPS', 'the probes speak HTTPS');
  t.not(config.server.tls.client_auth, 'require', "the kubelet's probes present no client certificate");
  const monitor = find(docs, 'ServiceMonitor', 'logstack').spec.endpoints[0];
  t.equal(monitor.scheme, 'https', 'Prometheus scrapes over HTTPS');
  t.equal(monitor.tlsConfig.ca.secret.name, tlsSecret.metadata.name);

  const walMount = container.volumeMounts.find((m: Doc) => m.name === set.spec.volumeClaimTemplates[0].metadata.name);
  t.equal(config.wal.wal_root_path, walMount.mountPath, 'the WAL lives on the claimed volume');
  t.equal(container.ports[0].containerPort, config.server.port, 'the container port is the one LogStack listens on');
  const hook = container.lifecycle.preStop.exec.command.at(-1) as string;
  const [, sleep, wait] = /^sleep (\d+) && exec bin\/logstack\.js flush --wait --timeout (\d+)s$/.exec(hook) ?? [];
  t.ok(sleep && wait, `the preStop hook waits, then flushes: ${hook}`);
  const preStop = Number(sleep) + Number(wait) + ANSWER_TIMEOUT_MS / 1000;
  t.ok(
    pod.terminationGracePeriodSeconds > preStop + config.server.request_timeout_seconds + config.server.shutdown_timeout_seconds + config.loki.timeout_seconds,
    'the grace period covers the preStop flush, the drain and a push in flight',
  );
  // The certificate file itself is read when the hook runs (test/cli/admin-tls.test.ts pins it).
  const target = resolveAdminTarget({ env: { ...env, LOGSTACK_URL: localServiceUrl(config) }, loadConfig: () => config });
  t.same(
    { url: target.url, token: target.token === config.security.admin_token },
    { url: `https://127.0.0.1:${container.ports[0].containerPort}`, token: true },
    "the preStop flush finds the service and the admin token in the pod's own configuration",
  );
  t.equal(pod.enableServiceLinks, false, 'no LOGSTACK_PORT=tcp://... from a Service named logstack');
  t.equal(container.livenessProbe.httpGet.path, '/healthz');
  t.equal(container.startupProbe.httpGet.path, '/healthz');
  t.equal(container.readinessProbe.httpGet.path, '/readyz?exclude=loki', 'a Loki outage does not take replicas out of the Service');
  t.equal(container.securityContext.readOnlyRootFilesystem, true);
  t.equal(String(pod.securityContext.runAsUser), runtimeStage().get('USER')![0]!.split(':')[0], "the pod runs as the image's user");
});

t.test('the ServiceMonitor scrapes each pod once, through the headless Service', async (t) => {
  const docs = kubernetes();
  const monitor = find(docs, 'ServiceMonitor', 'logstack');
  const services = docs.filter((d) => d.kind === 'Service');
  const selected = services.filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
  t.same(selected.map((s) => s.metadata.name), [find(docs, 'StatefulSet', 'logstack').spec.serviceName]);
  t.equal(selected[0]!.spec.clusterIP, 'None');
  t.ok(selected[0]!.spec.ports.some((p: Doc) => p.name === monitor.spec.endpoints[0].port), 'the endpoint port exists');
  t.equal(monitor.spec.endpoints[0].path, '/metrics');
});

t.test('the PrometheusRule holds the same groups as docs/prometheus/alerts.yml', async (t) => {
  const rule = find(kubernetes(), 'PrometheusRule', 'logstack');
  t.same(rule.spec.groups, (parse(read('docs/prometheus/alerts.yml')) as Doc).groups);
});

t.test('docker compose: LogStack starts from its environment, and every mounted file exists', async (t) => {
  const compose = parse(read('docker-compose.yml')) as Doc;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(compose.services.logstack.environment as Record<string, string>)) {
    env[name] = String(value).replace(/\$\{\w+:-([^}]*)\}/g, '$1');
  }
  const config = load(null, env);
  t.same(Object.values(config.security.api_keys).map((k) => k.name), ['demo']);
  t.match(config.loki.base_url, /^http:\/\/loki:3100$/);

  const mounts = new Map<string, string>();
  for (const service of Object.values(compose.services as Record<string, Doc>)) {
    for (const volume of (service.volumes ?? []) as string[]) {
      const [source, target] = volume.split(':');
      if (!source!.startsWith('./')) continue;
      t.ok(existsSync(new URL(source!, ROOT)), `${source} exists`);
      mounts.set(source!, target!);
    }
  }
  const prometheus = parse(read('deploy/compose/prometheus.yml')) as Doc;
  t.same(prometheus.rule_files, [mounts.get('./docs/prometheus/alerts.yml')], 'Prometheus loads the alert rules');
  t.same(prometheus.scrape_configs[0].static_configs[0].targets, [`logstack:${config.server.port}`]);
  const provider = parse(read('deploy/compose/grafana/provisioning/dashboards/logstack.yaml')) as Doc;
  t.equal(provider.providers[0].options.path, mounts.get('./docs/grafana'), 'Grafana loads the dashboard');
});

t.test('the image: WAL volume, port, liveness health check, and a context without host artefacts', async (t) => {
  const stage = runtimeStage();
  const walRoot = /LOGSTACK_WAL_ROOT_PATH=(\S+)/.exec(stage.get('ENV')!.join(' '))![1];
  t.same(stage.get('VOLUME'), [walRoot]);
  t.same(stage.get('EXPOSE'), ['8000']);
  t.match(stage.get('HEALTHCHECK')![0], /\/healthz/);
  t.same(stage.get('ENTRYPOINT'), ['["bin/logstack.js"]'], 'the launcher executed, with the node flags of its first line');
  t.match(stage.get('USER')![0], /^[1-9]\d*:/, 'a numeric non-root user');

  const ignored = new Set(read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#')));
  for (const path of ['node_modules', 'dist', 'wal', '.git', 'test']) t.ok(ignored.has(path), `${path} stays out of the context`);
  for (const path of ['src', 'bin', 'package.json', 'package-lock.json', 'config.yaml']) t.notOk(ignored.has(path), `${path} is in the context`);
});

t.test('one Node.js major everywhere: the engines, the node that npm ci installs for npm scripts, and the image', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string>; allowScripts: Record<string, boolean> };
  const major = /^>=(\d+)$/.exec(pkg.engines.node)?.[1];
  t.ok(major, `engines.node is a lower bound: ${pkg.engines.node}`);
  t.match(pkg.devDependencies.node, new RegExp(`^\\^${major}\\.`), 'the node package npm scripts run on');
  t.equal(pkg.allowScripts.node, true, 'its install script, which fetches the binary from the registry, is approved');
  t.match(read('Dockerfile'), new RegExp(`^ARG NODE_IMAGE=node:${major}-bookworm-slim$`, 'm'), 'the official image of that major');
  t.equal(process.versions.node.split('.')[0], major, 'this suite runs on it');
});

t.test("the image and the StatefulSet run with malloc's mmap threshold fixed, as the memory benchmark measures them", async (t) => {
  const imageEnv = stage('ENV');
  const threshold = /MALLOC_MMAP_THRESHOLD_=(\d+)/.exec(imageEnv)?.[1];
  t.equal(threshold, '131072', 'the image fixes it at 128 KiB');
  const container = find(kubernetes(), 'StatefulSet', 'logstack').spec.template.spec.containers[0];
  const env = new Map<string, string>(container.env.map((e: Doc) => [e.name, e.value]));
  t.equal(env.get('MALLOC_MMAP_THRESHOLD_'), threshold, 'the StatefulSet too, whatever image it runs');
  t.match(env.get('NODE_OPTIONS'), /--max-old-space-size=160\b/);
  t.match(read('bench/memory-mixed.bench.ts'), new RegExp(`MALLOC_MMAP_THRESHOLD_: '${threshold}'`), 'the benchmark runs the service with the same');
});

function stage(keyword: string): string {
  return (runtimeStage().get(keyword) ?? []).join(' ');
}
