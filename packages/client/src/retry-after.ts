/** An HTTP date as servers send it (IMF-fixdate, RFC 9110), e.g. `Fri, 27 Nov 2026 22:00:05 GMT`. */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * A Retry-After header in ms: delay-seconds or an HTTP date (relative to `nowMs`, wall clock);
 * undefined when absent or unreadable (Date.parse alone would read "-1" as a year).
 */
export function parseRetryAfter(header: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!IMF_FIXDATE.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
