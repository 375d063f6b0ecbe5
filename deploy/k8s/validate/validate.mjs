// Offline check of rendered Kubernetes objects (a JSON array on stdin, from deploy/k8s/render.py
// --json). Two checks per object:
//   1. schema: the kubernetes-models class of its apiVersion/kind validates it (types, required
//      fields, enums, formats: the Kubernetes OpenAPI schema compiled by kubernetes-models);
//   2. unknown fields: every key must be a property of the TypeScript interface kubernetes-models
//      declares for that position (its .d.ts files, followed through their imports), because the
//      schema alone accepts misspelt keys (`replica: 2`) that the API server would drop.
// KEDA's ScaledObject (a CRD, not in kubernetes-models) is checked against the fields of its
// v1alpha1 spec that these manifests may use.
// Exit 0 when every object passes; 1 with one line per problem otherwise; 2 on bad input.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const modelsRoot = path.dirname(require.resolve("kubernetes-models/package.json"));
const nodeModules = path.dirname(modelsRoot);

// apiVersion → kubernetes-models sub-path ("v1" → "v1", "apps/v1" → "apps/v1").
async function modelClass(apiVersion, kind) {
  try {
    const module = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return module[kind];
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ interfaces from .d.ts files
const interfaceCache = new Map();

function resolveImport(fromFile, spec) {
  const base = spec.startsWith(".") ? path.resolve(path.dirname(fromFile), spec) : path.join(nodeModules, spec);
  return base.replace(/\.js$/, "") + ".d.ts";
}

// { fields: Map(name → type text), imports: Map(TypeName → file) } of the first interface in file.
function readInterface(file) {
  if (interfaceCache.has(file)) return interfaceCache.get(file);
  const text = readFileSync(file, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g)) {
    for (const name of m[1].split(",").map((s) => s.trim())) imports.set(name, resolveImport(file, m[2]));
  }
  const body = text.match(/export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/);
  const fields = new Map();
  if (body) {
    // One field per 4-space-indented `"name"?: type;`; map types continue on deeper lines.
    let current = null;
    for (const line of body[1].replace(/\/\*\*[\s\S]*?\*\//g, "").split("\n")) {
      const start = line.match(/^ {4}"([^"]+)"\??: (.*)$/);
      if (start) {
        current = start[1];
        fields.set(current, start[2]);
      } else if (current) {
        fields.set(current, fields.get(current) + line.trim());
      }
    }
    for (const [name, type] of fields) fields.set(name, type.replace(/;$/, ""));
  }
  const result = { fields, imports, file };
  interfaceCache.set(file, result);
  return result;
}

function checkFields(value, iface, where, problems) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (!iface.fields.has(key)) {
      problems.push(`${where}: unknown field '${key}' (allowed: ${[...iface.fields.keys()].join(", ")})`);
      continue;
    }
    checkType(child, iface.fields.get(key), iface, `${where}.${key}`, problems);
  }
}

function checkType(value, type, owner, where, problems) {
  const array = type.match(/^Array<(\w+)>$/);
  if (array) {
    if (Array.isArray(value)) value.forEach((item, i) => checkType(item, array[1], owner, `${where}[${i}]`, problems));
    return;
  }
  const named = type.match(/^(I\w+)$/);
  if (named && owner.imports.has(named[1])) {
    const target = readInterface(owner.imports.get(named[1]));
    if (target.fields.size > 0) checkFields(value, target, where, problems);  // unions (IntOrString): no fields
  }
  // Primitives, maps ({ [key: string]: … }) and unions: the schema check covers them.
}

// ------------------------------------------------------------------ KEDA ScaledObject (CRD)
const scaledObjectSpec = new Set(["scaleTargetRef", "pollingInterval", "cooldownPeriod", "idleReplicaCount",
  "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers", "initialCooldownPeriod"]);
const scaledObjectTrigger = new Set(["type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"]);

function checkScaledObject(obj, where, problems) {
  for (const key of Object.keys(obj)) {
    if (!["apiVersion", "kind", "metadata", "spec"].includes(key)) problems.push(`${where}: unknown field '${key}'`);
  }
  const spec = obj.spec ?? {};
  for (const key of Object.keys(spec)) {
    if (!scaledObjectSpec.has(key)) problems.push(`${where}.spec: unknown field '${key}'`);
  }
  if (!spec.scaleTargetRef?.name) problems.push(`${where}.spec.scaleTargetRef.name is required`);
  if (!Array.isArray(spec.triggers) || spec.triggers.length === 0) problems.push(`${where}.spec.triggers: at least one`);
  for (const [i, trigger] of (spec.triggers ?? []).entries()) {
    for (const key of Object.keys(trigger)) {
      if (!scaledObjectTrigger.has(key)) problems.push(`${where}.spec.triggers[${i}]: unknown field '${key}'`);
    }
    if (typeof trigger.type !== "string") problems.push(`${where}.spec.triggers[${i}].type is required`);
    for (const [k, v] of Object.entries(trigger.metadata ?? {})) {
      if (typeof v !== "string") problems.push(`${where}.spec.triggers[${i}].metadata.${k} must be a string`);
    }
  }
  for (const key of ["minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"]) {
    if (key in spec && !Number.isInteger(spec[key])) problems.push(`${where}.spec.${key} must be an integer`);
  }
}

// ------------------------------------------------------------------ main
let objects;
try {
  objects = JSON.parse(readFileSync(0, "utf8"));
  if (!Array.isArray(objects)) throw new Error("expected a JSON array of objects");
} catch (error) {
  console.error(`validate.mjs: ${error.message}`);
  process.exit(2);
}

const problems = [];
for (const obj of objects) {
  const where = `${obj.kind}/${obj.metadata?.name}`;
  if (obj.apiVersion === "keda.sh/v1alpha1" && obj.kind === "ScaledObject") {
    checkScaledObject(obj, where, problems);
    continue;
  }
  const Model = await modelClass(obj.apiVersion, obj.kind);
  if (!Model) {
    problems.push(`${where}: no schema for apiVersion '${obj.apiVersion}' kind '${obj.kind}'`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (error) {
    const details = (error.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
    problems.push(`${where}: ${details || error.message}`);
  }
  const file = path.join(modelsRoot, obj.apiVersion, `${obj.kind}.d.ts`);
  checkFields(obj, readInterface(file), where, problems);
}

for (const problem of problems) console.log(problem);
console.error(`validate.mjs: ${objects.length} objects, ${problems.length} problems`);
process.exit(problems.length === 0 ? 0 : 1);
