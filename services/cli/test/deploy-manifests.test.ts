/**
 * Validates the deployment manifests (docker-compose.yml, docker/, deploy/, k8s/) without docker or kubectl,
 * which dev and CI machines do not have: every YAML file is parsed, compose variables are substituted from
 * .env.example, the kustomize overlays are rendered by a small renderer that supports exactly the features
 * the overlays use (and refuses any other), and the results are checked against the code they deploy:
 * - env variables must be ones `@synood/config` or a service's config declares;
 * - every stage service runs somewhere, is scraped, probed, has a PDB, a ServiceMonitor and (workers) a
 *   KEDA ScaledObject whose queue-depth query covers exactly the queues of the stages it consumes;
 * - liveness tolerates as long a silence as the longest lock of the stages a worker consumes
 *   (`STAGE_OPTIONS`), and grace periods outlast the graceful-shutdown timeout;
 * - every PromQL expression (dashboard, KEDA) names only series defined in packages/metrics/src/metrics.ts,
 *   with label names of those metrics and values from their closed sets, stages and queue names.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { commonEnvSchema } from '@synood/config';
import { STAGES, STAGE_SERVICE, type Stage, queueName } from '@synood/contracts';
import { STAGE_OPTIONS } from '@synood/queue';
import { parseAllDocuments } from 'yaml';

const ROOT = resolve(__dirname, '..', '..', '..');
const repo = (...parts: string[]): string => join(ROOT, ...parts);
const read = (...parts: string[]): string => readFileSync(repo(...parts), 'utf8');

// ---------------------------------------------------------------------------------------------------
// Plain-data helpers
// ---------------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at `path` inside nested objects and arrays, or undefined. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof key === 'number') {
      current = Array.isArray(current) ? (current as unknown[])[key] : undefined;
    } else {
      current = isObj(current) ? current[key] : undefined;
    }
  }
  return current;
}

function objAt(value: unknown, ...path: (string | number)[]): Obj {
  const found = at(value, ...path);
  if (!isObj(found)) {
    throw new Error(`expected an object at ${path.join('.')}, got ${JSON.stringify(found)}`);
  }
  return found;
}

function listAt(value: unknown, ...path: (string | number)[]): unknown[] {
  const found = at(value, ...path);
  return Array.isArray(found) ? (found as unknown[]) : [];
}

function strAt(value: unknown, ...path: (string | number)[]): string {
  const found = at(value, ...path);
  if (typeof found !== 'string') {
    throw new Error(`expected a string at ${path.join('.')}, got ${JSON.stringify(found)}`);
  }
  return found;
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) {
      out[k] = String(v);
    }
  }
  return out;
}

/** All YAML documents of a file, with `<<` merge keys; a syntax error or duplicate key fails the test. */
function loadYaml(path: string, options: { merge?: boolean } = {}): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: options.merge ?? false });
  const problems = docs.flatMap((d) => d.errors.map((e) => `${path}: ${e.message}`));
  if (problems.length > 0) {
    throw new Error(problems.join('\n'));
  }
  return docs.map((d) => d.toJS({ maxAliasCount: 1000 }) as unknown).filter((d) => d !== null);
}

function filesUnder(dir: string, suffixes: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      out.push(...filesUnder(path, suffixes));
    } else if (suffixes.some((s) => entry.endsWith(s))) {
      out.push(path);
    }
  }
  return out.sort();
}

// ---------------------------------------------------------------------------------------------------
// What the code defines: services, queues, locks, env variables, metrics
// ---------------------------------------------------------------------------------------------------

/** Stage service name → the stages its queue workers consume. */
const STAGES_OF = new Map<string, Stage[]>();
for (const stage of STAGES) {
  const service = STAGE_SERVICE[stage];
  STAGES_OF.set(service, [...(STAGES_OF.get(service) ?? []), stage]);
}
const SERVICES = [...STAGES_OF.keys()].sort();
const WORKERS = SERVICES.filter((s) => s !== 'api');

/** Longest lock duration among a service's stages, in seconds. */
function longestLockSeconds(service: string): number {
  return Math.max(...(STAGES_OF.get(service) ?? []).map((s) => STAGE_OPTIONS[s].lockDuration / 1000));
}

/**
 * Environment variables the code reads: `@synood/config`'s common schema, every variable a service's zod
 * env shape or the shared service kit declares (found in its sources as `NAME: z…` / `NAME: envVar…`), and the AWS SDK's own
 * credential and endpoint variables, which the S3 client reads itself.
 */
function knownEnvVariables(): Set<string> {
  const known = new Set<string>(Object.keys(commonEnvSchema.shape));
  const declaration = /^\s*([A-Z][A-Z0-9_]+):\s*(?:z|envVar)\b/gm;
  const sources = [
    ...readdirSync(repo('services')).map((dir) => repo('services', dir, 'src')),
    // The worker services' shared settings (SYNOOD_METRICS_PORT, SYNOOD_S3_*, …).
    repo('packages', 'service-kit', 'src'),
  ];
  for (const src of sources) {
    if (!existsSync(src)) {
      continue;
    }
    for (const file of filesUnder(src, ['.ts'])) {
      for (const m of readFileSync(file, 'utf8').matchAll(declaration)) {
        known.add(m[1]!);
      }
    }
  }
  for (const aws of [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_PROFILE',
    'AWS_REGION',
    'AWS_ENDPOINT_URL_S3',
  ]) {
    known.add(aws);
  }
  return known;
}
const KNOWN_ENV = knownEnvVariables();

interface MetricDef {
  type: 'histogram' | 'counter' | 'gauge';
  labels: string[];
}

/**
 * The platform metrics as packages/metrics/src/metrics.ts defines them (full names with the default
 * prefix, type and label names), and the closed label sets of labels.ts. Read from the source text: the
 * CLI does not depend on @synood/metrics.
 */
function platformMetrics(): {
  metrics: Map<string, MetricDef>;
  closed: Map<string, string[]>;
} {
  const source = read('packages', 'metrics', 'src', 'metrics.ts');
  const labelsSource = read('packages', 'metrics', 'src', 'labels.ts');
  const fail = (what: string): never => {
    throw new Error(`could not read ${what} from packages/metrics/src; update this test's reader`);
  };
  const prefix = /options\.prefix \?\? '([^']*)'/.exec(source)?.[1] ?? fail('the default prefix');
  const namesBlock = /export const METRIC_NAMES = \{([\s\S]*?)\} as const/.exec(source)?.[1];
  const localBlock = /const names = \{([\s\S]*?)\};/.exec(source)?.[1];
  if (namesBlock === undefined || localBlock === undefined) {
    return fail('METRIC_NAMES');
  }
  const byKey = new Map([...namesBlock.matchAll(/(\w+): '([a-z_]+)'/g)].map((m) => [m[1]!, m[2]!]));
  const local = new Map(
    [...localBlock.matchAll(/(\w+): fullName\(METRIC_NAMES\.(\w+)\)/g)].map((m) => [m[1]!, m[2]!]),
  );
  const labelList = (text: string): string[] => [...text.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
  const metrics = new Map<string, MetricDef>();
  const add = (short: string, def: MetricDef): void => {
    const key = local.get(short) ?? fail(`names.${short}`);
    metrics.set(prefix + (byKey.get(key) ?? fail(`METRIC_NAMES.${key}`)), def);
  };
  for (const m of source.matchAll(/histogram\(\s*names\.(\w+),\s*'[^']*',\s*\[([^\]]*)\]/g)) {
    add(m[1]!, { type: 'histogram', labels: labelList(m[2]!) });
  }
  for (const m of source.matchAll(
    /new (Counter|Gauge)\(\{\s*name: names\.(\w+),[\s\S]*?labelNames: \[([^\]]*)\]/g,
  )) {
    add(m[2]!, { type: m[1] === 'Counter' ? 'counter' : 'gauge', labels: labelList(m[3]!) });
  }
  if (metrics.size !== byKey.size) {
    fail(`the type and labels of every metric (found ${metrics.size} of ${byKey.size})`);
  }
  const constants = new Map(
    [...labelsSource.matchAll(/export const (\w+) = \[([\s\S]*?)\] as const/g)].map((m) => [
      m[1]!,
      [...m[2]!.matchAll(/'([^']+)'/g)].map((v) => v[1]!),
    ]),
  );
  const closed = new Map<string, string[]>();
  for (const m of source.matchAll(/checkClosedLabel\('(\w+)',[^,]+,\s*(\w+)\)/g)) {
    closed.set(m[1]!, constants.get(m[2]!) ?? fail(m[2]!));
  }
  return { metrics, closed };
}
const { metrics: METRICS, closed: CLOSED_LABELS } = platformMetrics();

/** Labels every scraped series may carry besides its own: scrape target labels and the `service` default label. */
const TARGET_LABELS = ['job', 'instance', 'service', 'namespace', 'pod', 'container', 'endpoint'];

/** Series names Prometheus stores for the platform metrics → their label names. */
const SERIES = new Map<string, string[]>();
for (const [name, def] of METRICS) {
  if (def.type === 'histogram') {
    SERIES.set(`${name}_bucket`, [...def.labels, 'le']);
    SERIES.set(`${name}_sum`, def.labels);
    SERIES.set(`${name}_count`, def.labels);
  } else {
    SERIES.set(name, def.labels);
  }
}

// ---------------------------------------------------------------------------------------------------
// PromQL: the selectors of an expression
// ---------------------------------------------------------------------------------------------------

interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct' | 'op' | 'var';
  text: string;
}

function tokenizePromql(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const take = (re: RegExp): string => {
    re.lastIndex = i;
    const m = re.exec(expr);
    if (m?.index !== i) {
      throw new Error(`PromQL ${JSON.stringify(expr)}: cannot read at offset ${i}`);
    }
    i += m[0].length;
    return m[0];
  };
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'") {
      let text = '';
      i++;
      while (i < expr.length && expr[i] !== c) {
        if (expr[i] === '\\') {
          i++;
        }
        text += expr[i] ?? '';
        i++;
      }
      if (i >= expr.length) {
        throw new Error(`PromQL ${JSON.stringify(expr)}: unterminated string`);
      }
      i++;
      tokens.push({ kind: 'string', text });
    } else if (c === '$') {
      tokens.push({ kind: 'var', text: take(/\$(\{[^}]*\}|[A-Za-z0-9_]+)/y) });
    } else if (/[A-Za-z_:]/.test(c)) {
      tokens.push({ kind: 'ident', text: take(/[A-Za-z_:][A-Za-z0-9_:]*/y) });
    } else if (/[0-9.]/.test(c)) {
      tokens.push({ kind: 'number', text: take(/[0-9.]+(?:[eE][+-]?[0-9]+)?[A-Za-z0-9]*/y) });
    } else if ('{}()[],'.includes(c)) {
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else {
      tokens.push({ kind: 'op', text: take(/=~|!~|!=|==|>=|<=|[=<>+\-*/%^@]/y) });
    }
  }
  return tokens;
}

interface Matcher {
  label: string;
  op: string;
  value: string;
}

interface Selector {
  metric: string;
  matchers: Matcher[];
}

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2']);
/** Aggregation operators, which may be followed by `by (…)` before their `(`. */
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);

function closing(tokens: Token[], open: number, left: string, right: string): number {
  let depth = 0;
  for (let j = open; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.kind === 'punct' && t.text === left) {
      depth++;
    } else if (t.kind === 'punct' && t.text === right) {
      depth--;
      if (depth === 0) {
        return j;
      }
    }
  }
  throw new Error(`unbalanced ${left}${right}`);
}

/** Every vector selector of a PromQL expression; identifiers followed by `(` are functions. */
function promqlSelectors(expr: string): Selector[] {
  const tokens = tokenizePromql(expr);
  const out: Selector[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '[') {
      i = closing(tokens, i, '[', ']');
    } else if (t.kind === 'punct' && t.text === '{') {
      throw new Error(`PromQL ${JSON.stringify(expr)}: a selector without a metric name`);
    } else if (t.kind === 'ident' && GROUPING.has(t.text)) {
      if (next?.text === '(') {
        i = closing(tokens, i + 1, '(', ')');
      }
    } else if (
      t.kind === 'ident' &&
      !KEYWORDS.has(t.text) &&
      !AGGREGATIONS.has(t.text) &&
      next?.text !== '('
    ) {
      const selector: Selector = { metric: t.text, matchers: [] };
      if (next?.kind === 'punct' && next.text === '{') {
        const end = closing(tokens, i + 1, '{', '}');
        const inner = tokens.slice(i + 2, end).filter((x) => x.text !== ',');
        for (let j = 0; j < inner.length; j += 3) {
          const [label, op, value] = [inner[j], inner[j + 1], inner[j + 2]];
          if (label?.kind !== 'ident' || op?.kind !== 'op' || value === undefined) {
            throw new Error(`PromQL ${JSON.stringify(expr)}: cannot read the matchers of ${t.text}`);
          }
          selector.matchers.push({ label: label.text, op: op.text, value: value.text });
        }
        i = end;
      }
      out.push(selector);
    }
  }
  return out;
}

/** The literal values a matcher accepts; regex alternatives must be literals (escaped dots allowed). */
function matcherValues(m: Matcher): string[] {
  if (m.op === '=' || m.op === '!=') {
    return [m.value];
  }
  return m.value.split('|').map((alternative) => {
    if (/[\\^$*+?()[\]{}.]/.test(alternative.replace(/\\\./g, ''))) {
      throw new Error(`regex matcher ${m.label}=~"${m.value}": use literal alternatives, got ${alternative}`);
    }
    return alternative.replace(/\\\./g, '.');
  });
}

/** Problems of one PromQL expression against the platform metrics; empty when it is fine. */
function promqlProblems(expr: string): string[] {
  const problems: string[] = [];
  const selectors = promqlSelectors(expr);
  if (selectors.length === 0) {
    problems.push(`${expr}: selects no metric`);
  }
  const queues = STAGES.map((s) => queueName(s));
  for (const { metric, matchers } of selectors) {
    const labels = SERIES.get(metric);
    if (labels === undefined) {
      problems.push(`${expr}: ${metric} is not a series of packages/metrics/src/metrics.ts`);
      continue;
    }
    for (const m of matchers) {
      if (!labels.includes(m.label) && !TARGET_LABELS.includes(m.label)) {
        problems.push(`${expr}: ${metric} has no label ${m.label}`);
        continue;
      }
      if (m.value.includes('$')) {
        continue; // a Grafana variable, substituted at query time
      }
      const allowed =
        CLOSED_LABELS.get(m.label) ??
        (m.label === 'stage' ? [...STAGES] : m.label === 'queue' ? queues : undefined);
      for (const value of allowed === undefined ? [] : matcherValues(m)) {
        if (!allowed!.includes(value)) {
          problems.push(`${expr}: ${m.label}="${value}" is not one of ${allowed!.join(', ')}`);
        }
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// Compose: variable substitution from .env.example
// ---------------------------------------------------------------------------------------------------

function envFile(path: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m !== null) {
      vars.set(m[1]!, m[2]!);
    }
  }
  return vars;
}

interface Interpolation {
  name: string;
  required: boolean;
}

/** Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$VAR`, `$$`. */
function interpolate(text: string, vars: Map<string, string>, seen: Interpolation[]): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, braced: string | undefined, op: string | undefined, arg: string | undefined, bare?: string) => {
      if (whole === '$$') {
        return '$';
      }
      const name = braced ?? bare!;
      const value = vars.get(name);
      const unset = value === undefined || (op?.startsWith(':') === true && value === '');
      seen.push({ name, required: op?.endsWith('?') === true });
      if (op?.endsWith('?') === true && unset) {
        throw new Error(`compose: required variable ${name} is not set: ${arg ?? ''}`);
      }
      if (value === undefined || unset) {
        return op?.endsWith('-') === true ? (arg ?? '') : '';
      }
      return value;
    },
  );
}

function interpolateAll(value: unknown, vars: Map<string, string>, seen: Interpolation[]): unknown {
  if (typeof value === 'string') {
    return interpolate(value, vars, seen);
  }
  if (Array.isArray(value)) {
    return value.map((v: unknown) => interpolateAll(v, vars, seen));
  }
  if (isObj(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, vars, seen)]));
  }
  return value;
}

function composeEnvironment(service: Obj): Record<string, string> {
  const env = service.environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(
      (env as unknown[]).map((entry) => {
        const [k, ...v] = String(entry).split('=');
        return [k!, v.join('=')];
      }),
    );
  }
  return stringMap(env);
}

/** Compose durations such as `60s`, `1m30s`, `10m`, in seconds. */
function durationSeconds(text: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let total = 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`not a compose duration: ${text}`);
  }
  for (const p of parts) {
    total += Number(p[1]) * units[p[2]!]!;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------
// Kustomize: a renderer for the features the overlays use
// ---------------------------------------------------------------------------------------------------

interface Resource extends Obj {
  apiVersion: string;
  kind: string;
  metadata: Obj & { name: string; namespace?: string; labels?: Record<string, string> };
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'StorageClass',
]);
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);
/** Built-in API groups: patched with strategic-merge semantics; other kinds (CRDs) with JSON merge patch. */
const BUILTIN_GROUPS = new Set(['v1', 'apps/v1', 'batch/v1', 'policy/v1', 'networking.k8s.io/v1']);
/** Strategic-merge keys of the lists the patches touch; other lists are replaced, as kustomize does. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
};

function mergePatch(target: unknown, patch: unknown, strategic: boolean, field = ''): unknown {
  if (isObj(patch) && isObj(target)) {
    const out: Obj = { ...target };
    for (const [k, v] of Object.entries(patch)) {
      out[k] = v === null ? undefined : mergePatch(target[k], v, strategic, k);
    }
    // A null in a patch deletes the key.
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
  }
  const key = MERGE_KEYS[field];
  if (strategic && key !== undefined && Array.isArray(patch) && Array.isArray(target)) {
    const out = [...(target as unknown[])];
    for (const item of patch as unknown[]) {
      const index = out.findIndex((t) => at(t, key) === at(item, key));
      if (index >= 0) {
        out[index] = mergePatch(out[index], item, strategic, '');
      } else {
        out.push(item);
      }
    }
    return out;
  }
  return patch;
}

function podTemplates(r: Resource): Obj[] {
  return WORKLOADS.has(r.kind) ? [objAt(r, 'spec', 'template')] : [];
}

function setImage(image: string, rule: Obj): string {
  const m = /^((?:[^/]+\/)*[^:@/]+)(?::([^@/]+))?(@.+)?$/.exec(image);
  if (m === null || m[1] !== rule.name) {
    return image;
  }
  const name = typeof rule.newName === 'string' ? rule.newName : m[1]!;
  if (typeof rule.digest === 'string') {
    return `${name}@${rule.digest}`;
  }
  const tag = typeof rule.newTag === 'string' ? rule.newTag : m[2];
  return tag === undefined ? name : `${name}:${tag}`;
}

const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'patches',
  'namespace',
  'labels',
  'commonLabels',
  'images',
]);

/** Renders a kustomization directory (or a component applied to `input`) into resources. */
function kustomize(dir: string, input: Resource[] = []): Resource[] {
  const k = objAt(loadYaml(join(dir, 'kustomization.yaml'))[0]);
  const unsupported = Object.keys(k).filter((f) => !KUSTOMIZATION_FIELDS.has(f));
  if (unsupported.length > 0) {
    throw new Error(`${dir}: this test's kustomize renderer does not support ${unsupported.join(', ')}`);
  }
  let resources: Resource[] = [...input];
  for (const entry of listAt(k, 'resources')) {
    const path = resolve(dir, String(entry));
    if (statSync(path).isDirectory()) {
      resources.push(...kustomize(path));
    } else {
      resources.push(...(loadYaml(path) as Resource[]));
    }
  }
  for (const entry of listAt(k, 'components')) {
    resources = kustomize(resolve(dir, String(entry)), resources);
  }
  for (const entry of listAt(k, 'patches')) {
    if (!isObj(entry) || typeof entry.path !== 'string' || Object.keys(entry).length !== 1) {
      throw new Error(`${dir}: only { path } patches are supported, got ${JSON.stringify(entry)}`);
    }
    for (const patch of loadYaml(resolve(dir, entry.path)) as Resource[]) {
      const index = resources.findIndex(
        (r) => r.kind === patch.kind && r.metadata.name === patch.metadata.name,
      );
      if (index < 0) {
        throw new Error(`${dir}/${entry.path}: no ${patch.kind} ${patch.metadata.name} to patch`);
      }
      const target = resources[index]!;
      resources[index] = mergePatch(target, patch, BUILTIN_GROUPS.has(target.apiVersion)) as Resource;
    }
  }
  const namespace = k.namespace;
  if (typeof namespace === 'string') {
    resources = resources.map((r) =>
      CLUSTER_SCOPED.has(r.kind) ? r : { ...r, metadata: { ...r.metadata, namespace } },
    );
  }
  const labelRules = [
    ...listAt(k, 'labels').map((l) => ({
      pairs: stringMap(at(l, 'pairs')),
      selectors: at(l, 'includeSelectors') === true,
      templates: at(l, 'includeTemplates') === true,
    })),
    ...(isObj(k.commonLabels)
      ? [{ pairs: stringMap(k.commonLabels), selectors: true, templates: true }]
      : []),
  ];
  for (const rule of labelRules) {
    resources = resources.map((r) => {
      const copy = structuredClone(r);
      copy.metadata.labels = { ...copy.metadata.labels, ...rule.pairs };
      if (rule.templates || rule.selectors) {
        for (const template of podTemplates(copy)) {
          const meta = (template.metadata ??= {}) as Obj;
          meta.labels = { ...stringMap(meta.labels), ...rule.pairs };
        }
      }
      if (rule.selectors) {
        if (WORKLOADS.has(copy.kind) || copy.kind === 'PodDisruptionBudget') {
          const selector = objAt(copy, 'spec', 'selector');
          selector.matchLabels = { ...stringMap(selector.matchLabels), ...rule.pairs };
        } else if (copy.kind === 'Service') {
          const spec = objAt(copy, 'spec');
          spec.selector = { ...stringMap(spec.selector), ...rule.pairs };
        }
      }
      return copy;
    });
  }
  for (const rule of listAt(k, 'images').filter(isObj)) {
    for (const r of resources) {
      for (const template of podTemplates(r)) {
        for (const c of [
          ...listAt(template, 'spec', 'containers'),
          ...listAt(template, 'spec', 'initContainers'),
        ]) {
          if (isObj(c) && typeof c.image === 'string') {
            c.image = setImage(c.image, rule);
          }
        }
      }
    }
  }
  const ids = resources.map((r) => `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`);
  const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (duplicates.length > 0) {
    throw new Error(`${dir}: duplicate resources ${duplicates.join(', ')}`);
  }
  return resources;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

const ofKind = (resources: Resource[], kind: string): Resource[] => resources.filter((r) => r.kind === kind);
const named = (resources: Resource[], kind: string, name: string): Resource | undefined =>
  resources.find((r) => r.kind === kind && r.metadata.name === name);
const templateLabels = (d: Resource): Record<string, string> =>
  stringMap(at(d, 'spec', 'template', 'metadata', 'labels'));
const containersOf = (d: Resource): Obj[] =>
  listAt(d, 'spec', 'template', 'spec', 'containers').filter(isObj);
const componentOf = (r: Resource): string => r.metadata.labels?.['app.kubernetes.io/component'] ?? '';

/** Kubernetes CPU quantity in cores. */
function cores(quantity: unknown): number {
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
}

/** Env of a container after envFrom ConfigMaps (env entries win, as in Kubernetes). */
function containerEnv(c: Obj, resources: Resource[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of listAt(c, 'envFrom')) {
    const name = at(from, 'configMapRef', 'name');
    if (typeof name === 'string') {
      Object.assign(env, stringMap(at(named(resources, 'ConfigMap', name), 'data')));
    }
  }
  for (const e of listAt(c, 'env')) {
    if (typeof at(e, 'value') === 'string') {
      env[strAt(e, 'name')] = strAt(e, 'value');
    }
  }
  return env;
}

// ---------------------------------------------------------------------------------------------------
// The manifests under test
// ---------------------------------------------------------------------------------------------------

const ENV_EXAMPLE = envFile(repo('.env.example'));
const COMPOSE_VARS: Interpolation[] = [];
const COMPOSE = objAt(
  interpolateAll(loadYaml(repo('docker-compose.yml'), { merge: true })[0], ENV_EXAMPLE, COMPOSE_VARS),
);
const COMPOSE_SERVICES = objAt(COMPOSE, 'services');
const SECRET_EXAMPLE = loadYaml(repo('k8s', 'base', 'secret.example.yaml'))[0] as Resource;
const OVERLAYS = {
  cpu: kustomize(repo('k8s', 'overlays', 'cpu')),
  gpu: kustomize(repo('k8s', 'overlays', 'gpu')),
};
/** The services each overlay runs on GPUs. */
const GPU_SERVICES = { cpu: [] as string[], gpu: ['encoder', 'synthesizer'] };

/** The synood service a compose service runs (`command[0]`), or undefined for other images. */
function composeRole(service: Obj): string | undefined {
  const image = at(service, 'image');
  if (typeof image !== 'string' || !/^synood(-gpu)?:/.test(image)) {
    return undefined;
  }
  const command = listAt(service, 'command');
  return command[0] === 'synood' ? 'cli' : String(command[0]);
}

describe('every YAML and JSON file parses', () => {
  const files = [
    repo('docker-compose.yml'),
    ...filesUnder(repo('deploy'), ['.yml', '.yaml', '.json']),
    ...filesUnder(repo('k8s'), ['.yml', '.yaml']),
  ];

  it.each(files.map((f) => [f.slice(ROOT.length + 1), f]))('%s', (_name, file) => {
    if (file.endsWith('.json')) {
      expect(isObj(JSON.parse(readFileSync(file, 'utf8')))).toBe(true);
    } else {
      const docs = loadYaml(file, { merge: file.endsWith('docker-compose.yml') });
      expect(docs.length).toBeGreaterThan(0);
      expect(docs.every(isObj)).toBe(true);
    }
  });
});

describe('Dockerfiles', () => {
  const stages = (text: string): { from: string; body: string }[] =>
    text
      .split(/^FROM\s+/m)
      .slice(1)
      .map((chunk) => ({ from: chunk.split('\n')[0]!, body: chunk }));
  const userOf = (body: string): string | undefined => [...body.matchAll(/^USER\s+(\S+)/gm)].pop()?.[1];
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'));
  const isIgnored = (path: string): boolean =>
    ignored.some((p) =>
      p.startsWith('**/')
        ? path.split('/').includes(p.slice(3))
        : !/[*?[]/.test(p) && (path === p || path.startsWith(`${p}/`)),
    );

  it.each(['Dockerfile', 'Dockerfile.gpu'])(
    '%s: multi-stage, skips the ORT download, production deps only, non-root runtime',
    (file) => {
      const text = read('docker', file);
      const all = stages(text);
      expect(all.length).toBeGreaterThanOrEqual(3);
      const runtime = all[all.length - 1]!;
      expect(runtime.from).toMatch(/ AS runtime$/);
      const user = userOf(runtime.body);
      expect(user).toBeDefined();
      expect(['root', '0', '0:0']).not.toContain(user);
      expect(runtime.body).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
      // The first npm ci of the file already runs with the skip set.
      const firstCi = /^RUN .*npm ci/m.exec(text)?.index ?? -1;
      expect(firstCi).toBeGreaterThan(0);
      expect(text.indexOf('ONNXRUNTIME_NODE_INSTALL=skip')).toBeLessThan(firstCi);
      expect(text).toMatch(/npm ci --omit=dev/);
      expect(text).toMatch(/npx turbo run build/);
      expect(runtime.body).not.toMatch(/npm (ci|install)/);
      // COPY sources from the build context exist and are not excluded by .dockerignore.
      for (const m of text.matchAll(/^COPY[ \t]+(.+)$/gm)) {
        const words = m[1]!.trim().split(/[ \t]+/);
        if (words.some((w) => w.startsWith('--from='))) {
          continue;
        }
        for (const source of words.filter((w) => !w.startsWith('--')).slice(0, -1)) {
          expect([source, existsSync(repo(source)), isIgnored(source)]).toEqual([source, true, false]);
        }
      }
      expect(runtime.body).toMatch(/ENTRYPOINT \["\/app\/docker\/entrypoint\.sh"\]/);
    },
  );

  it('the GPU image runs on a CUDA 12 + cuDNN runtime base and installs the CUDA execution provider', () => {
    const text = read('docker', 'Dockerfile.gpu');
    const base = /^ARG CUDA_IMAGE=(\S+)$/m.exec(text)?.[1];
    expect(base).toMatch(/^nvidia\/cuda:12\.[0-9.]+-cudnn-runtime-/);
    expect(stages(text).pop()!.from).toBe('${CUDA_IMAGE} AS runtime');
    expect(text).toMatch(
      /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/,
    );
    expect(text).toMatch(/test -f "\$ort\/linux\/x64\/libonnxruntime_providers_cuda\.so"/);
  });

  it('the entrypoint starts exactly the stage services by name and the CLI', () => {
    const script = read('docker', 'entrypoint.sh');
    const line = /^\s*((?:[a-z-]+ \| )+[a-z-]+)\)$/m.exec(script)?.[1];
    expect(line?.split(' | ').sort()).toEqual(SERVICES);
    expect(script).toMatch(/exec node "\/app\/services\/\$service\/dist\/\$file"/);
    expect(script).toMatch(/exec node \/app\/services\/cli\/bin\/synood\.js/);
    expect(existsSync(repo('services', 'cli', 'bin', 'synood.js'))).toBe(true);
  });

  it('.dockerignore keeps local build outputs, secrets and git out of the context', () => {
    for (const pattern of ['.git', '**/node_modules', '**/dist', '.env']) {
      expect(ignored).toContain(pattern);
    }
    expect(read('.dockerignore')).toMatch(/^!\.env\.example$/m);
  });
});

describe('docker-compose.yml', () => {
  const services = Object.entries(COMPOSE_SERVICES).map(([name, s]) => [name, objAt(s)] as const);
  const synood = services.filter(([, s]) => composeRole(s) !== undefined);
  const longRunning = services.filter(([, s]) => s.restart !== 'no');

  it('every variable it requires is in .env.example, and .env.example sets nothing it does not use', () => {
    const used = new Set(COMPOSE_VARS.map((v) => v.name));
    for (const v of COMPOSE_VARS.filter((x) => x.required)) {
      expect(ENV_EXAMPLE.has(v.name)).toBe(true);
    }
    expect([...ENV_EXAMPLE.keys()].filter((k) => !used.has(k))).toEqual([]);
  });

  it('every service has an image or a build, and builds use the repository Dockerfiles', () => {
    for (const [, s] of services) {
      expect(typeof s.image === 'string' || isObj(s.build)).toBe(true);
      if (isObj(s.build)) {
        expect(s.build.context).toBe('.');
        expect(existsSync(repo(strAt(s.build, 'dockerfile')))).toBe(true);
        expect(String(s.image)).toMatch(
          strAt(s.build, 'dockerfile').endsWith('.gpu') ? /^synood-gpu:/ : /^synood:/,
        );
      }
    }
  });

  it('runs every stage service, on CPU by default and the GPU stages again under the gpu profile', () => {
    const defaultRoles = synood.filter(([, s]) => s.profiles === undefined).map(([, s]) => composeRole(s));
    expect([...new Set(defaultRoles)].sort()).toEqual(SERVICES);
    const gpu = synood.filter(([, s]) => listAt(s, 'profiles').includes('gpu'));
    expect(gpu.map(([, s]) => composeRole(s)).sort()).toEqual(GPU_SERVICES.gpu);
  });

  it('GPU services, and only they, reserve an NVIDIA device and use the CUDA image and provider', () => {
    for (const [name, s] of synood) {
      const devices = listAt(s, 'deploy', 'resources', 'reservations', 'devices');
      const env = composeEnvironment(s);
      if (listAt(s, 'profiles').includes('gpu')) {
        expect(devices).toHaveLength(1);
        expect(at(devices, 0, 'driver')).toBe('nvidia');
        expect(listAt(devices, 0, 'capabilities')).toContain('gpu');
        const ids = listAt(devices, 0, 'device_ids');
        expect(ids.length === 1 ? /^\d+$/.test(String(ids[0])) : at(devices, 0, 'count') === 1).toBe(true);
        expect(String(s.image)).toMatch(/^synood-gpu:/);
        expect([name, env.SYNOOD_EXECUTION_PROVIDER]).toEqual([name, 'cuda']);
      } else {
        expect(devices).toEqual([]);
        expect([name, env.SYNOOD_EXECUTION_PROVIDER ?? 'cpu']).toEqual([name, 'cpu']);
      }
    }
  });

  it('every long-running service has a healthcheck; synood services check the port they listen on', () => {
    for (const [name, s] of longRunning) {
      const test = listAt(s, 'healthcheck', 'test');
      expect([name, test.length > 0]).toEqual([name, true]);
      const role = composeRole(s);
      if (role !== undefined) {
        const env = composeEnvironment(s);
        const port = role === 'api' ? (env.SYNOOD_API_PORT ?? '8080') : (env.SYNOOD_METRICS_PORT ?? '9464');
        expect(test).toEqual([
          'CMD',
          'node',
          '/app/docker/healthcheck.js',
          `http://127.0.0.1:${port}/healthz`,
        ]);
      }
    }
    expect(existsSync(repo('docker', 'healthcheck.js'))).toBe(true);
  });

  it('depends_on names existing services, with conditions those services can meet', () => {
    for (const [name, s] of services) {
      const deps = at(s, 'depends_on');
      for (const [target, spec] of Object.entries(isObj(deps) ? deps : {})) {
        const other = at(COMPOSE_SERVICES, target);
        expect([name, target, isObj(other)]).toEqual([name, target, true]);
        const condition = at(spec, 'condition');
        if (condition === 'service_healthy') {
          expect(listAt(other, 'healthcheck', 'test').length).toBeGreaterThan(0);
        } else {
          expect([name, target, condition, at(other, 'restart')]).toEqual([
            name,
            target,
            'service_completed_successfully',
            'no',
          ]);
        }
        // A service without a profile must not wait for one that only runs under a profile.
        if (s.profiles === undefined) {
          expect(at(other, 'profiles')).toBeUndefined();
        }
      }
    }
  });

  it('synood services get only environment variables the code reads, and no secret literals', () => {
    for (const [name, s] of synood) {
      const env = composeEnvironment(s);
      expect([name, Object.keys(env).filter((k) => !KNOWN_ENV.has(k))]).toEqual([name, []]);
    }
    const raw = read('docker-compose.yml');
    for (const secret of [
      'AWS_SECRET_ACCESS_KEY',
      'SYNOOD_API_KEY',
      'MINIO_ROOT_PASSWORD',
      'GF_SECURITY_ADMIN_PASSWORD',
    ]) {
      expect(raw).toMatch(new RegExp(`^\\s+${secret}: \\$\\{[A-Z0-9_]+:\\?`, 'm'));
    }
  });

  it('Redis keeps queues: AOF on and noeviction (BullMQ loses jobs to evictions)', () => {
    const command = listAt(COMPOSE_SERVICES, 'redis', 'command').map(String);
    expect(String(at(COMPOSE_SERVICES, 'redis', 'image'))).toMatch(/^redis:7/);
    expect(command.slice(command.indexOf('--appendonly'), command.indexOf('--appendonly') + 2)).toEqual([
      '--appendonly',
      'yes',
    ]);
    expect(command[command.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
  });

  it('minio-init creates the bucket the services store into, with the access key they use', () => {
    const init = objAt(COMPOSE_SERVICES, 'minio-init');
    const env = composeEnvironment(init);
    const script = read('deploy', 'minio', 'init.sh');
    expect(script).toMatch(/mc mb --ignore-existing "local\/\$SYNOOD_BUCKET"/);
    expect(script).toMatch(/mc admin user add local "\$SYNOOD_S3_ACCESS_KEY" "\$SYNOOD_S3_SECRET_KEY"/);
    for (const [, s] of synood.filter(([, x]) => composeRole(x) !== 'cli')) {
      const workerEnv = composeEnvironment(s);
      expect(workerEnv.SYNOOD_STORAGE_URL).toBe(`s3://${env.SYNOOD_BUCKET!}/artifacts`);
      expect(workerEnv.AWS_ACCESS_KEY_ID).toBe(env.SYNOOD_S3_ACCESS_KEY);
      expect(workerEnv.AWS_SECRET_ACCESS_KEY).toBe(env.SYNOOD_S3_SECRET_KEY);
      expect(workerEnv.SYNOOD_S3_ENDPOINT).toBe(env.MINIO_URL);
    }
    const mount = listAt(init, 'volumes').map(String);
    expect(mount).toEqual(['./deploy/minio/init.sh:/init/minio-init.sh:ro']);
  });

  it('workers outlast their graceful-shutdown timeout and share one model cache volume', () => {
    const volumes = objAt(COMPOSE, 'volumes');
    for (const [name, s] of synood) {
      const role = composeRole(s);
      if (role !== 'api' && role !== 'cli') {
        const timeout = Number(composeEnvironment(s).SYNOOD_SHUTDOWN_TIMEOUT_MS ?? 30_000) / 1000;
        expect([name, durationSeconds(String(s.stop_grace_period)) > timeout]).toEqual([name, true]);
      }
      const cache = listAt(s, 'volumes')
        .map(String)
        .find((v) => v.split(':')[1] === '/models');
      expect([name, cache?.split(':')[0]]).toEqual([name, 'models']);
      expect([name, composeEnvironment(s).SYNOOD_MODEL_CACHE]).toEqual([name, '/models']);
      // Only the one-shot pull writes the cache; concurrent writers are not supported (docs/models.md).
      expect([name, cache?.endsWith(':ro')]).toEqual([name, role !== 'cli']);
    }
    expect(Object.keys(volumes)).toContain('models');
  });

  it('named volumes are declared and bind mounts exist in the repository', () => {
    const declared = Object.keys(objAt(COMPOSE, 'volumes'));
    for (const [, s] of services) {
      for (const v of listAt(s, 'volumes').map(String)) {
        const source = v.split(':')[0]!;
        if (source.startsWith('./')) {
          expect(existsSync(repo(source))).toBe(true);
        } else {
          expect(declared).toContain(source);
        }
      }
    }
  });

  it('CPU replicas of the GPU stages interpolate to whole numbers', () => {
    for (const name of ['encoder', 'synthesizer-cpu']) {
      expect(String(at(COMPOSE_SERVICES, name, 'deploy', 'replicas'))).toMatch(/^\d+$/);
    }
  });
});

describe('Prometheus and Grafana for compose', () => {
  const prometheus = objAt(loadYaml(repo('deploy', 'prometheus', 'prometheus.yml'))[0]);
  const jobs = listAt(prometheus, 'scrape_configs').filter(isObj);

  it('scrapes every synood compose service on the port it serves /metrics on', () => {
    for (const [name, raw] of Object.entries(COMPOSE_SERVICES)) {
      const s = objAt(raw);
      const role = composeRole(s);
      if (role === undefined || role === 'cli') {
        continue;
      }
      const env = composeEnvironment(s);
      const port = role === 'api' ? Number(env.SYNOOD_API_PORT) : Number(env.SYNOOD_METRICS_PORT ?? 9464);
      const job = jobs.find((j) => j.job_name === role);
      const statics = listAt(job, 'static_configs').flatMap((c) => listAt(c, 'targets').map(String));
      const dns = listAt(job, 'dns_sd_configs').filter(
        (c) => listAt(c, 'names').includes(name) && at(c, 'port') === port,
      );
      expect([name, statics.includes(`${name}:${port}`) || dns.length === 1]).toEqual([name, true]);
      expect(at(job, 'metrics_path') ?? '/metrics').toBe('/metrics');
    }
  });

  it('provisions the datasource at the compose Prometheus and the dashboards folder compose mounts', () => {
    const datasource = objAt(
      loadYaml(repo('deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'))[0],
    );
    expect(at(datasource, 'datasources', 0, 'type')).toBe('prometheus');
    expect(at(datasource, 'datasources', 0, 'url')).toBe('http://prometheus:9090');
    const provider = objAt(
      loadYaml(repo('deploy', 'grafana', 'provisioning', 'dashboards', 'synood.yml'))[0],
    );
    const path = strAt(provider, 'providers', 0, 'options', 'path');
    const mounts = listAt(COMPOSE_SERVICES, 'grafana', 'volumes').map(String);
    expect(mounts).toContain(`./deploy/grafana/dashboards:${path}:ro`);
    expect(mounts).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro');
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(read('deploy', 'grafana', 'dashboards', 'synood.json')) as Obj;
  const panels = listAt(dashboard, 'panels').filter(isObj);
  const targets = panels.flatMap((p) => listAt(p, 'targets').filter(isObj));
  const expressions = targets.map((t) => strAt(t, 'expr'));

  it('has unique panel ids and every query goes to the ${datasource} variable', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(at(p, 'datasource', 'uid')).toBe('${datasource}');
      expect(listAt(p, 'targets').length).toBeGreaterThan(0);
    }
    const variables = listAt(dashboard, 'templating', 'list');
    expect(
      at(
        variables.find((v) => at(v, 'name') === 'datasource'),
        'query',
      ),
    ).toBe('prometheus');
  });

  it('every PromQL expression uses only metrics, labels and values the platform defines', () => {
    expect(expressions.length).toBeGreaterThan(10);
    expect(expressions.flatMap(promqlProblems)).toEqual([]);
  });

  it('template variables read label values of platform metrics', () => {
    const queries = listAt(dashboard, 'templating', 'list')
      .filter((v) => at(v, 'type') === 'query')
      .map((v) => strAt(v, 'query', 'query'));
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) {
      const m = /^label_values\((.+),\s*([a-z_]+)\)$/.exec(q);
      expect(m).not.toBeNull();
      expect(promqlProblems(m![1]!)).toEqual([]);
      expect(SERIES.get(promqlSelectors(m![1]!)[0]!.metric)).toContain(m![2]);
    }
  });

  it('shows every platform metric, stage durations and waits at p50 and p95', () => {
    const used = new Set(expressions.flatMap((e) => promqlSelectors(e).map((s) => s.metric)));
    for (const [name, def] of METRICS) {
      const series = def.type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
      expect([name, series.some((s) => used.has(s))]).toEqual([name, true]);
    }
    for (const metric of [
      'synood_stage_job_duration_seconds_bucket',
      'synood_stage_job_wait_seconds_bucket',
    ]) {
      for (const p of ['0.5', '0.95']) {
        expect(expressions.some((e) => e.startsWith(`histogram_quantile(${p},`) && e.includes(metric))).toBe(
          true,
        );
      }
    }
  });
});

describe('the PromQL checker itself', () => {
  it('finds selectors and matchers past functions, groupings and ranges', () => {
    expect(
      promqlSelectors(
        'histogram_quantile(0.95, sum by (le, stage) (rate(a_bucket{x="1", y=~"b|c"}[5m]))) / on(job) group_left b offset 5m',
      ),
    ).toEqual([
      {
        metric: 'a_bucket',
        matchers: [
          { label: 'x', op: '=', value: '1' },
          { label: 'y', op: '=~', value: 'b|c' },
        ],
      },
      { metric: 'b', matchers: [] },
    ]);
  });

  it('rejects unknown metrics, labels and closed-set values', () => {
    expect(promqlProblems('rate(synood_jobs_total[5m])')).toHaveLength(1);
    expect(promqlProblems('synood_queue_jobs{stage="encode"}')).toHaveLength(1);
    expect(promqlProblems('synood_queue_jobs{state=~"waiting|queued"}')).toEqual([
      expect.stringContaining('state="queued"'),
    ]);
    expect(promqlProblems('synood_stage_items_total{outcome="processed", stage="encode"}')).toEqual([]);
    expect(() => promqlProblems('synood_queue_jobs{queue=~"synood.*"}')).toThrow(/literal alternatives/);
  });

  it('reads the eight platform metrics from metrics.ts with their types and labels', () => {
    expect(METRICS.get('synood_stage_job_duration_seconds')).toEqual({
      type: 'histogram',
      labels: ['stage', 'status'],
    });
    expect(METRICS.get('synood_queue_jobs')).toEqual({ type: 'gauge', labels: ['queue', 'state'] });
    expect(METRICS.get('synood_stage_items_total')).toEqual({
      type: 'counter',
      labels: ['stage', 'outcome'],
    });
    expect(METRICS.size).toBe(8);
    expect(CLOSED_LABELS.get('state')).toContain('waiting');
  });
});

describe('kustomize renderer', () => {
  it('merges containers and env by name, replaces other lists, and rewrites images', () => {
    const base = {
      spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'K', value: '1' }], args: ['p'] }] },
    };
    const patch = { spec: { containers: [{ name: 'a', env: [{ name: 'L', value: '2' }], args: ['q'] }] } };
    expect(mergePatch(base, patch, true)).toEqual({
      spec: {
        containers: [
          {
            name: 'a',
            image: 'x',
            env: [
              { name: 'K', value: '1' },
              { name: 'L', value: '2' },
            ],
            args: ['q'],
          },
        ],
      },
    });
    // JSON merge patch (custom resources): every list is replaced.
    expect(mergePatch({ containers: [{ name: 'x' }] }, { containers: [{ name: 'y' }] }, false)).toEqual({
      containers: [{ name: 'y' }],
    });
    expect(setImage('synood:0.1.0', { name: 'synood', newName: 'r.io/s/synood', newTag: '2' })).toBe(
      'r.io/s/synood:2',
    );
    expect(setImage('synood-gpu:0.1.0', { name: 'synood', newTag: '2' })).toBe('synood-gpu:0.1.0');
  });
});

describe.each(Object.keys(OVERLAYS) as (keyof typeof OVERLAYS)[])('k8s overlay %s', (overlay) => {
  const resources = OVERLAYS[overlay];
  const deployments = ofKind(resources, 'Deployment');
  const configMap = named(resources, 'ConfigMap', 'synood-config');
  const config = stringMap(at(configMap, 'data'));

  it('puts everything in the synood namespace with the part-of label', () => {
    for (const r of resources) {
      if (r.kind !== 'Namespace') {
        expect([r.kind, r.metadata.name, r.metadata.namespace]).toEqual([r.kind, r.metadata.name, 'synood']);
      }
      expect(r.metadata.labels?.['app.kubernetes.io/part-of']).toBe('synood');
    }
  });

  it('has one Deployment per stage service', () => {
    expect(deployments.map(componentOf).sort()).toEqual(SERVICES);
    for (const d of deployments) {
      expect(selects(stringMap(at(d, 'spec', 'selector', 'matchLabels')), templateLabels(d))).toBe(true);
      expect(containersOf(d).map((c) => listAt(c, 'args')[0])).toEqual([componentOf(d)]);
    }
  });

  it('every container is non-root, read-only, probed, sized and writes only to an emptyDir /tmp', () => {
    for (const d of deployments) {
      const pod = objAt(d, 'spec', 'template', 'spec');
      expect(at(pod, 'securityContext', 'runAsNonRoot')).toBe(true);
      expect(Number(at(pod, 'securityContext', 'runAsUser'))).toBeGreaterThan(0);
      expect(at(pod, 'securityContext', 'seccompProfile', 'type')).toBe('RuntimeDefault');
      const volumes = listAt(pod, 'volumes').filter(isObj);
      for (const c of containersOf(d)) {
        const where = `${d.metadata.name}/${strAt(c, 'name')}`;
        expect([where, at(c, 'securityContext', 'readOnlyRootFilesystem')]).toEqual([where, true]);
        expect([where, at(c, 'securityContext', 'allowPrivilegeEscalation')]).toEqual([where, false]);
        expect([where, listAt(c, 'securityContext', 'capabilities', 'drop')]).toEqual([where, ['ALL']]);
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
          const port = at(c, probe, 'httpGet', 'port');
          const ports = listAt(c, 'ports').map((p) => at(p, 'name'));
          expect([where, probe, ports.includes(port)]).toEqual([where, probe, true]);
        }
        expect(at(c, 'livenessProbe', 'httpGet', 'path')).toBe('/healthz');
        expect(at(c, 'readinessProbe', 'httpGet', 'path')).toBe('/readyz');
        expect([where, cores(at(c, 'resources', 'requests', 'cpu')) > 0]).toEqual([where, true]);
        expect([where, typeof at(c, 'resources', 'requests', 'memory')]).toEqual([where, 'string']);
        expect([where, typeof at(c, 'resources', 'limits', 'memory')]).toEqual([where, 'string']);
        const mounts = listAt(c, 'volumeMounts').filter(isObj);
        const tmp = mounts.find((m) => m.mountPath === '/tmp');
        expect(volumes.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
        for (const m of mounts) {
          expect(volumes.some((v) => v.name === m.name)).toBe(true);
        }
        const models = mounts.find((m) => m.mountPath === config.SYNOOD_MODEL_CACHE);
        expect([where, models?.readOnly]).toEqual([where, true]);
      }
    }
  });

  it('containers read only known environment variables, from the ConfigMap and the Secret', () => {
    const secretName = SECRET_EXAMPLE.metadata.name;
    for (const d of deployments) {
      for (const c of containersOf(d)) {
        const refs = listAt(c, 'envFrom');
        expect(refs.map((r) => at(r, 'configMapRef', 'name') ?? at(r, 'secretRef', 'name'))).toEqual([
          'synood-config',
          secretName,
        ]);
        expect(Object.keys(containerEnv(c, resources)).filter((k) => !KNOWN_ENV.has(k))).toEqual([]);
      }
    }
    expect(Object.keys(stringMap(at(SECRET_EXAMPLE, 'stringData'))).filter((k) => !KNOWN_ENV.has(k))).toEqual(
      [],
    );
    // The example holds placeholders only.
    for (const value of Object.values(stringMap(at(SECRET_EXAMPLE, 'stringData')))) {
      expect(value === '' || value.includes('change-me')).toBe(true);
    }
    expect(named(resources, 'Secret', secretName)).toBeUndefined();
  });

  it('ports match the configuration, and onnxruntime threads fit the CPU request', () => {
    for (const d of deployments) {
      const c = containersOf(d)[0]!;
      const env = containerEnv(c, resources);
      const expected =
        componentOf(d) === 'api'
          ? ['http', Number(env.SYNOOD_API_PORT ?? 8080)]
          : ['metrics', Number(env.SYNOOD_METRICS_PORT ?? 9464)];
      expect(listAt(c, 'ports').map((p) => [at(p, 'name'), at(p, 'containerPort')])).toEqual([expected]);
      const threads = Number(env.SYNOOD_INTRA_OP_THREADS);
      expect([
        d.metadata.name,
        threads >= 1 && threads <= cores(at(c, 'resources', 'requests', 'cpu')),
      ]).toEqual([d.metadata.name, true]);
    }
  });

  it('liveness outlasts the longest job lock and grace periods outlast the shutdown timeout', () => {
    const shutdownSeconds = Number(config.SYNOOD_SHUTDOWN_TIMEOUT_MS ?? 30_000) / 1000;
    for (const d of deployments) {
      const service = componentOf(d);
      const grace = Number(at(d, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds'));
      expect([service, grace > shutdownSeconds]).toEqual([service, true]);
      if (service === 'api') {
        continue;
      }
      const live = objAt(containersOf(d)[0], 'livenessProbe');
      const window = Number(live.periodSeconds) * Number(live.failureThreshold);
      expect([service, window >= longestLockSeconds(service)]).toEqual([service, true]);
      expect(Number(live.timeoutSeconds)).toBeLessThan(Number(live.periodSeconds));
    }
  });

  it('GPU stages request one GPU on GPU nodes with the CUDA image; the others request none', () => {
    for (const d of deployments) {
      const service = componentOf(d);
      const c = containersOf(d)[0]!;
      const pod = objAt(d, 'spec', 'template', 'spec');
      const env = containerEnv(c, resources);
      if (GPU_SERVICES[overlay].includes(service)) {
        expect(at(c, 'resources', 'requests', 'nvidia.com/gpu')).toBe(1);
        expect(at(c, 'resources', 'limits', 'nvidia.com/gpu')).toBe(1);
        expect(Object.keys(stringMap(pod.nodeSelector)).length).toBeGreaterThan(0);
        expect(listAt(pod, 'tolerations').some((t) => at(t, 'key') === 'nvidia.com/gpu')).toBe(true);
        expect(strAt(c, 'image')).toMatch(/\/synood-gpu:/);
        expect(env.SYNOOD_EXECUTION_PROVIDER).toBe('cuda');
        // No spare GPU is needed for a rolling update.
        expect(at(d, 'spec', 'strategy', 'rollingUpdate', 'maxSurge')).toBe(0);
      } else {
        expect([service, at(c, 'resources', 'requests', 'nvidia.com/gpu')]).toEqual([service, undefined]);
        expect([service, at(c, 'resources', 'limits', 'nvidia.com/gpu')]).toEqual([service, undefined]);
        expect(strAt(c, 'image')).toMatch(/\/synood:/);
        expect(env.SYNOOD_EXECUTION_PROVIDER).toBe('cpu');
      }
    }
  });

  it('every PodDisruptionBudget selects exactly one Deployment, and every Deployment has one', () => {
    const pdbs = ofKind(resources, 'PodDisruptionBudget');
    for (const d of deployments) {
      const matching = pdbs.filter((p) =>
        selects(stringMap(at(p, 'spec', 'selector', 'matchLabels')), templateLabels(d)),
      );
      expect([d.metadata.name, matching.length]).toEqual([d.metadata.name, 1]);
    }
    for (const p of pdbs) {
      const matching = deployments.filter((d) =>
        selects(stringMap(at(p, 'spec', 'selector', 'matchLabels')), templateLabels(d)),
      );
      expect([p.metadata.name, matching.length]).toEqual([p.metadata.name, 1]);
      // minAvailable on a worker that KEDA scales to one pod would block every node drain.
      if (componentOf(p) !== 'api') {
        expect(at(p, 'spec', 'maxUnavailable')).toBe(1);
      }
    }
  });

  it('every Service selects one Deployment and its ports resolve to container ports', () => {
    for (const s of ofKind(resources, 'Service')) {
      const matching = deployments.filter((d) =>
        selects(stringMap(at(s, 'spec', 'selector')), templateLabels(d)),
      );
      expect([s.metadata.name, matching.length]).toEqual([s.metadata.name, 1]);
      const containerPorts = containersOf(matching[0]!).flatMap((c) =>
        listAt(c, 'ports').map((p) => at(p, 'name')),
      );
      for (const port of listAt(s, 'spec', 'ports')) {
        expect(containerPorts).toContain(at(port, 'targetPort'));
      }
    }
  });

  it('one ServiceMonitor per service scrapes /metrics through a Service port', () => {
    const services = ofKind(resources, 'Service');
    const monitors = ofKind(resources, 'ServiceMonitor');
    expect(monitors.map(componentOf).sort()).toEqual(SERVICES);
    for (const m of monitors) {
      expect(m.apiVersion).toBe('monitoring.coreos.com/v1');
      const matching = services.filter((s) =>
        selects(stringMap(at(m, 'spec', 'selector', 'matchLabels')), s.metadata.labels ?? {}),
      );
      expect([m.metadata.name, matching.length]).toEqual([m.metadata.name, 1]);
      const ports = listAt(matching[0], 'spec', 'ports').map((p) => at(p, 'name'));
      for (const endpoint of listAt(m, 'spec', 'endpoints')) {
        expect(ports).toContain(at(endpoint, 'port'));
        expect(at(endpoint, 'path')).toBe('/metrics');
        expect(at(endpoint, 'honorLabels')).toBe(true);
      }
    }
  });

  it('one KEDA ScaledObject per worker scales on the depth of exactly the queues it consumes', () => {
    const scaled = ofKind(resources, 'ScaledObject');
    expect(scaled.map(componentOf).sort()).toEqual(WORKERS);
    for (const so of scaled) {
      expect(so.apiVersion).toBe('keda.sh/v1alpha1');
      const target = named(resources, 'Deployment', strAt(so, 'spec', 'scaleTargetRef', 'name'));
      expect(target).toBeDefined();
      const service = componentOf(target!);
      expect(componentOf(so)).toBe(service);
      // KEDA owns the replica count; a replicas field would be reset on every apply.
      expect(at(target, 'spec', 'replicas')).toBeUndefined();
      const min = Number(at(so, 'spec', 'minReplicaCount'));
      const max = Number(at(so, 'spec', 'maxReplicaCount'));
      expect(min >= 0 && min <= max && Number(at(so, 'spec', 'fallback', 'replicas')) <= max).toBe(true);
      const triggers = listAt(so, 'spec', 'triggers');
      expect(triggers).toHaveLength(1);
      expect(at(triggers, 0, 'type')).toBe('prometheus');
      expect(at(triggers, 0, 'metadata', 'ignoreNullValues')).toBe('false');
      expect(Number(at(triggers, 0, 'metadata', 'threshold'))).toBeGreaterThan(0);
      const query = strAt(triggers, 0, 'metadata', 'query');
      expect(promqlProblems(query)).toEqual([]);
      const [selector, ...others] = promqlSelectors(query);
      expect(others).toEqual([]);
      expect(selector!.metric).toBe('synood_queue_jobs');
      const queues = matcherValues(selector!.matchers.find((m) => m.label === 'queue')!).sort();
      expect([service, queues]).toEqual([
        service,
        (STAGES_OF.get(service) ?? []).map((s) => queueName(s)).sort(),
      ]);
      const states = matcherValues(selector!.matchers.find((m) => m.label === 'state')!).sort();
      expect(states).toEqual(['active', 'prioritized', 'waiting']);
      // Every API replica reports the same counts: deduplicate per queue and state before summing.
      expect(query.replace(/\s+/g, ' ')).toMatch(/^sum\(max by \(queue, state\) \(synood_queue_jobs\{/);
    }
  });

  it('GPU workers scale to zero; CPU workers keep one replica', () => {
    for (const so of ofKind(resources, 'ScaledObject')) {
      const min = Number(at(so, 'spec', 'minReplicaCount'));
      expect([componentOf(so), min]).toEqual([
        componentOf(so),
        GPU_SERVICES[overlay].includes(componentOf(so)) ? 0 : 1,
      ]);
    }
  });

  it('mounts the model cache claim the base declares', () => {
    const claims = ofKind(resources, 'PersistentVolumeClaim').map((c) => c.metadata.name);
    for (const d of deployments) {
      for (const v of listAt(d, 'spec', 'template', 'spec', 'volumes')) {
        const claim = at(v, 'persistentVolumeClaim', 'claimName');
        if (claim !== undefined) {
          expect(claims).toContain(claim);
        }
      }
    }
  });
});

describe('k8s extras', () => {
  it('the ingress component routes to the API Service port', () => {
    const withIngress = kustomize(repo('k8s', 'components', 'ingress'), OVERLAYS.cpu);
    const ingress = named(withIngress, 'Ingress', 'synood-api')!;
    const backend = objAt(ingress, 'spec', 'rules', 0, 'http', 'paths', 0, 'backend', 'service');
    const service = named(withIngress, 'Service', strAt(backend, 'name'));
    expect(listAt(service, 'spec', 'ports').map((p) => at(p, 'name'))).toContain(at(backend, 'port', 'name'));
  });

  it('the models-pull Job writes the claim the workers read, as a non-root read-only container', () => {
    const job = loadYaml(repo('k8s', 'jobs', 'models-pull.yaml'))[0] as Resource;
    const pod = objAt(job, 'spec', 'template', 'spec');
    const c = objAt(pod, 'containers', 0);
    expect(listAt(c, 'args')).toEqual(['synood', 'models', 'pull']);
    expect(at(pod, 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(at(c, 'securityContext', 'readOnlyRootFilesystem')).toBe(true);
    const env = Object.fromEntries(listAt(c, 'env').map((e) => [strAt(e, 'name'), at(e, 'value')]));
    expect(Object.keys(env).filter((k) => !KNOWN_ENV.has(k))).toEqual([]);
    const models = listAt(c, 'volumeMounts').find((m) => at(m, 'mountPath') === env.SYNOOD_MODEL_CACHE);
    expect(at(models, 'readOnly')).toBeUndefined();
    const volume = listAt(pod, 'volumes').find((v) => at(v, 'name') === at(models, 'name'));
    expect(at(volume, 'persistentVolumeClaim', 'claimName')).toBe(
      ofKind(OVERLAYS.cpu, 'PersistentVolumeClaim')[0]!.metadata.name,
    );
  });
});
