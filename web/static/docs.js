// /docs: renders /openapi.json as one folding panel per operation, with no library.
"use strict";

const element = (tag, properties = {}, ...children) => {
  const made = Object.assign(document.createElement(tag), properties);
  made.append(...children);
  return made;
};

function resolve(document_, schema) {
  // Follows one level of "$ref" so a panel shows the schema itself.
  if (schema && schema.$ref) return document_.components.schemas[schema.$ref.split("/").pop()] || schema;
  return schema;
}

function parameterTable(parameters) {
  const rows = parameters.map((parameter) => element("tr", {},
    element("td", {}, element("code", { textContent: parameter.name })),
    element("td", { textContent: parameter.in + (parameter.required ? ", required" : "") }),
    element("td", { textContent: describe(parameter.schema) + (parameter.description ? ` — ${parameter.description}` : "") })));
  return element("table", {}, element("tr", {}, ...["Parameter", "In", "Accepts"].map(
    (heading) => element("th", { textContent: heading }))), ...rows);
}

function describe(schema) {
  if (!schema) return "";
  if (schema.properties) return `each as its own parameter: ${Object.keys(schema.properties).join(", ")}`;
  if (schema.enum) return `one of ${schema.enum.join(", ")}`;
  const bounds = [schema.minimum, schema.maximum].every((bound) => bound !== undefined)
    ? ` ${schema.minimum}–${schema.maximum}` : "";
  return `${schema.type || "value"}${bounds}${schema.pattern ? ` matching ${schema.pattern}` : ""}`;
}

function panel(document_, path, method, operation) {
  const body = [element("p", { textContent: operation.summary })];
  if (operation.parameters || document_.paths[path].parameters) {
    body.push(parameterTable([...(document_.paths[path].parameters || []), ...(operation.parameters || [])]));
  }
  if (operation.requestBody) {
    const [media, content] = Object.entries(operation.requestBody.content)[0];
    body.push(element("h3", { textContent: `Body (${media})` }),
      element("pre", { textContent: JSON.stringify(resolve(document_, content.schema), null, 2) }));
  }
  body.push(element("h3", { textContent: "Answers" }), element("table", {},
    ...Object.entries(operation.responses).map(([status, answer]) => element("tr", {},
      element("td", {}, element("code", { textContent: status })),
      element("td", { textContent: answer.description }),
      element("td", { textContent: Object.keys(answer.content || {}).join(", ") })))));
  return element("details", { className: "operation panel" },
    element("summary", {}, element("span", { className: "method", textContent: method }),
      element("span", { className: "path", textContent: path }),
      element("span", { className: "hint", textContent: operation.summary })), ...body.slice(1));
}

fetch("/openapi.json").then((answer) => answer.json()).then((document_) => {
  const operations = document.getElementById("operations");
  for (const [path, item] of Object.entries(document_.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (method !== "parameters") operations.append(panel(document_, path, method, operation));
    }
  }
}).catch((error) => {
  document.getElementById("operations").append(
    element("p", { className: "alert", role: "alert", textContent: `Could not read /openapi.json: ${error}` }));
});
