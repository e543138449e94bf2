/** Adds `value`, forgetting the oldest entries beyond `limit` (a Set iterates in insertion order). */
export function rememberBounded(set: Set<string>, value: string, limit: number): void {
  set.add(value);
  for (const oldest of set) {
    if (set.size <= limit) break;
    set.delete(oldest);
  }
}
