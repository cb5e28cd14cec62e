// The console's translations: Django's JavaScript catalog (loaded before the page's
// modules by console/base.html) when present, the English text as written otherwise.
//   t("Sync now")                          → "立即同步" in zh-hans
//   tf("%(n)s rows", { n: 3 })             → named placeholders, as in Django's .po files
//   tn("%(n)s run", "%(n)s runs", n, {n})  → plural forms
const catalog = globalThis;

export function t(message) {
  return typeof catalog.gettext === "function" ? catalog.gettext(message) : message;
}

export function tf(format, values) {
  return interpolate(t(format), values);
}

export function tn(singular, plural, count, values = {}) {
  const text =
    typeof catalog.ngettext === "function"
      ? catalog.ngettext(singular, plural, count)
      : count === 1
        ? singular
        : plural;
  return interpolate(text, values);
}

function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}
