// Display rules shared with dashboard/templatetags/dashboard.py (`show`): a row patched here
// reads exactly like one the server rendered. Money stays a string: only trailing zeros are
// trimmed, never parsed into a float.

const DECIMAL = /^-?\d+\.\d+$/;
const MOMENT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;

export function show(value) {
  if (value === null || value === undefined || value === "") return "-";
  if (typeof value === "boolean") return value ? "yes" : "no";
  let text = String(value);
  if (DECIMAL.test(text)) {
    text = text.replace(/0+$/, "").replace(/\.$/, "");
    return text === "-0" || text === "" ? "0" : text;
  }
  if (MOMENT.test(text)) return text.slice(0, 19).replace("T", " ");
  return text;
}

// Same rule as dashboard.selectors.connection_state.
export function connectionState(account) {
  if (!account.is_active) return "inactive";
  if (account.last_error) return "error";
  if ((account.sync_states || []).some((s) => s.kind === "stream" && s.ws_connected)) {
    return "streaming";
  }
  return account.last_sync_at ? "synced" : "never synced";
}

export function format(kind, value, context) {
  if (kind === "account") {
    if (value === null || value === undefined) return "group";
    return context.labels.get(Number(value)) || String(value);
  }
  if (kind === "orders") return (value || []).map((o) => `#${o.id}`).join(" ");
  return show(value);
}
