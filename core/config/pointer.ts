/** JSON pointer helpers and the human form of a path used in messages. */

export function parsePointer(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .replace(/^\//, '')
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function toPointer(segments: readonly (string | number)[]): string {
  return segments.length ? '/' + segments.map((s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('/') : '';
}

/** `/model/adapters/1/flowLength` -> `model.adapters[1].flowLength` */
export function humanPath(pointer: string): string {
  const segs = parsePointer(pointer);
  if (!segs.length) return '(root)';
  let out = '';
  for (const s of segs) out += /^\d+$/.test(s) ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

export function getAt(doc: unknown, segments: readonly string[]): unknown {
  let cur = doc;
  for (const s of segments) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[s];
  }
  return cur;
}

/** Expand a slot pattern (`/model/adapters/*`) to the concrete pointers present in `doc`. */
export function expandSlot(doc: unknown, pattern: string): string[] {
  let paths: string[][] = [[]];
  for (const seg of parsePointer(pattern)) {
    const next: string[][] = [];
    for (const p of paths) {
      const v = getAt(doc, p);
      if (seg === '*') {
        if (Array.isArray(v)) v.forEach((_, i) => next.push([...p, String(i)]));
      } else if (v && typeof v === 'object' && seg in (v as object)) {
        next.push([...p, seg]);
      }
    }
    paths = next;
  }
  return paths.map(toPointer);
}
