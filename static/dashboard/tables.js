// Live tables: rows keyed by id, filled from API-shaped payloads through `data-f` cells,
// inserted from the page's <template id="row-KIND">, removed when they stop matching.

import { format } from "./format.js";

function stamp(payload) {
  const value = payload.updated_at || payload.processed_at || payload.created_at;
  return value ? Date.parse(value) : 0;
}

export function fillElement(root, payload, context) {
  for (const cell of root.querySelectorAll("[data-f]")) {
    const field = cell.dataset.f;
    if (!(field in payload)) continue;
    cell.textContent = format(cell.dataset.fmt, payload[field], context);
  }
  for (const link of root.querySelectorAll("[data-link]")) {
    link.href = link.dataset.link.replace(/\{(\w+)\}/g, (_, name) => payload[name] ?? "");
  }
  if ("status" in payload) root.dataset.status = payload.status;
}

export class LiveTable {
  constructor(table, context) {
    this.table = table;
    this.kind = table.dataset.kind;
    this.context = context;
    this.body = table.tBodies[0];
    this.limit = Number(table.dataset.limit || 0);
    this.match = table.dataset.match ? JSON.parse(table.dataset.match) : {};
    if ("openOnly" in table.dataset) this.match.status = context.openStatuses;
    if ("filtered" in table.dataset) {
      for (const [name, value] of Object.entries(context.filters || {})) {
        this.match[name] = name === "status" ? value.split(",") : [value];
      }
    }
  }

  matches(payload) {
    return Object.entries(this.match).every(([field, allowed]) =>
      allowed.map(String).includes(String(payload[field])),
    );
  }

  row(id) {
    return this.body.querySelector(`tr[data-id="${id}"]`);
  }

  upsert(payload) {
    let row = this.row(payload.id);
    if (!this.matches(payload)) {
      if (row) row.remove();
      return;
    }
    if (row && row.dataset.stamp && stamp(payload) < Number(row.dataset.stamp)) {
      return; // an older state that arrived late
    }
    if (!row) {
      const template = document.getElementById(`row-${this.kind}`);
      row = template.content.firstElementChild.cloneNode(true);
      row.dataset.id = payload.id;
      this.body.prepend(row);
      for (const empty of this.body.querySelectorAll("tr.empty")) empty.remove();
      if (this.limit) {
        while (this.body.rows.length > this.limit) this.body.lastElementChild.remove();
      }
    }
    row.dataset.stamp = String(stamp(payload));
    fillElement(row, payload, this.context);
  }

  // After a re-sync: `payloads` is the whole current set for this table's source.
  replaceAll(payloads) {
    const seen = new Set(payloads.map((p) => String(p.id)));
    for (const row of [...this.body.querySelectorAll("tr[data-id]")]) {
      if (!seen.has(row.dataset.id)) row.remove();
    }
    for (const payload of [...payloads].reverse()) this.upsert(payload);
  }
}
