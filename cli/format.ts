/** `12s`, `4m`, `3h`, `2d`: a duration in its largest whole unit; "-" when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Age of an ISO timestamp at `nowMs`, formatted by formatDuration; "-" if unparsable. */
export function formatAge(iso: string | null | undefined, nowMs: number): string {
  const at = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(at)) return '-';
  return formatDuration((nowMs - at) / 1000);
}

/** The first 12 characters of an id, as docker shows them. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 12) : '-';
}

/** `512B`, `1.5KiB`, `23.4MiB`, `1.2GiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value}B` : `${value.toFixed(1)}${units[unit]}`;
}

/** `12.5%`, or "-" when unknown. */
export function formatPercent(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-';
  return `${value.toFixed(1)}%`;
}
