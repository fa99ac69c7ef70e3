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
// or refuses them under kubectl's strict field validation), so a misspelt optional field
// passes here: the unit tests of the rules and the metric-name check cover what matters most.
import { readFileSync } from "node:fs";
import { join } from "node:path";
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
    counts[obj.kind] = (counts[obj.kind] ?? 0) + 1;
  } catch (e) {
    problems.push(`${where}: ${e.message}`);
  }
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ") +
  " valid against their CRD schemas");
