// Validates the rendered custom resources (ServiceMonitor, PodMonitor, PrometheusRule,
// ScaledObject) against their CRDs' OpenAPI schemas, which kubernetes-validate does not know.
// The schemas come compiled into the npm packages @kubernetes-models/prometheus-operator and
// @kubernetes-models/keda (generated from the operators' CRDs); deploy/check.sh installs them
// under .ci/tools/node and passes that directory as KUBERNETES_MODELS.
//
//   node deploy/check-crds.mjs OBJECTS.json      (a JSON array of objects)
//
// The schemas check types, enums, patterns and required fields. They do not reject unknown
// fields (the CRDs declare no additionalProperties: false; the API server prunes such fields,
// or refuses them under kubectl's strict field validation), so each object is also walked
// against the fields the packages' type declarations (.d.ts) list for each class: a field
// that no class declares, a misspelt optional one say, is reported as kubectl would refuse
// it. Maps and inline object types are not walked into.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const models = process.env.KUBERNETES_MODELS;
if (!models) {
  console.error("check-crds: set KUBERNETES_MODELS to the node_modules holding @kubernetes-models");
  process.exit(2);
}
const load = (p) => import(pathToFileURL(join(models, "@kubernetes-models", p)).href);
const kinds = {
  "monitoring.coreos.com/v1": await load("prometheus-operator/monitoring.coreos.com/v1/index.js"),
  "keda.sh/v1alpha1": await load("keda/keda.sh/v1alpha1/index.js"),
};

// The fields of the class declared in a .d.ts file, with their type text, and the file each
// imported type name comes from.
const declarations = new Map();
function declaration(file) {
  if (declarations.has(file)) return declarations.get(file);
  const text = readFileSync(file, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const spec = m[2].replace(/\.js$/, "");
    const path = spec.startsWith(".") ? join(dirname(file), spec) : join(models, spec);
    imports.set(m[1], path + ".d.ts");
  }
  let fields = null;
  const cls = text.match(/^export declare class \w+[^\n]*\{\n([\s\S]*?)^\}/m);
  if (cls) {
    fields = new Map();
    // Top-level members only: an inline type's own members sit deeper and are skipped.
    for (const m of cls[1].matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) fields.set(m[1], m[2]);
  }
  const d = { fields, imports };
  declarations.set(file, d);
  return d;
}

function unknownFields(value, type, file, path, out) {
  const array = type.match(/^Array<(.*)>;?$/);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1], file, `${path}[${i}]`, out));
    return;
  }
  const name = type.replace(/;$/, "");
  const target = declaration(file).imports.get(name);
  if (!target || !existsSync(target) || value === null || typeof value !== "object") return;
  const { fields } = declaration(target);
  if (!fields) return;
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) out.push(`${path}.${k}: no such field`);
    else unknownFields(v, fields.get(k), target, `${path}.${k}`, out);
  }
}

const files = {
  "monitoring.coreos.com/v1": (kind) =>
    join(models, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1", `${kind}.d.ts`),
  "keda.sh/v1alpha1": (kind) => join(models, "@kubernetes-models/keda/keda.sh/v1alpha1", `${kind}.d.ts`),
};

const objects = JSON.parse(readFileSync(process.argv[2], "utf8"));
const problems = [];
const counts = {};
for (const obj of objects) {
  const where = `${obj.kind}/${obj.metadata?.name}`;
  const Model = kinds[obj.apiVersion]?.[obj.kind];
  if (!Model) {
    problems.push(`${where}: no schema for ${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(`${where}: ${e.message}`);
    continue;
  }
  const unknown = [];
  const file = files[obj.apiVersion](obj.kind);
  const { fields } = declaration(file);
  for (const [k, v] of Object.entries(obj)) {
    if (!fields.has(k)) unknown.push(`.${k}: no such field`);
    else unknownFields(v, fields.get(k), file, `.${k}`, unknown);
  }
  if (unknown.length) {
    problems.push(...unknown.map((u) => `${where}: ${u}`));
    continue;
  }
  counts[obj.kind] = (counts[obj.kind] ?? 0) + 1;
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ") +
  " valid against their CRD schemas, with no undeclared field");
