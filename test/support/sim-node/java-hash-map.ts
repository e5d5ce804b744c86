/**
 * Iteration order of java.util.HashMap<String, V>, which decides the row order of
 * `nodetool listsnapshots` (snapshot names are keys of HashMaps on the server). Verified against
 * the captured outputs: bucket = spread(String.hashCode) & (capacity - 1), entries of one bucket
 * in insertion order, resize at 0.75 load keeping relative order. Treeified buckets (8+ collisions)
 * are not modelled.
 */
function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

function spread(h: number): number {
  return (h ^ (h >>> 16)) | 0;
}

function tableSizeFor(cap: number): number {
  let n = 1;
  while (n < cap) n *= 2;
  return Math.max(1, n);
}

interface Entry<V> {
  key: string;
  hash: number;
  value: V;
}

export class JavaHashMap<V> {
  private buckets: Array<Array<Entry<V>>> = [];
  private capacity: number;
  private count = 0;

  /** `initialCapacity` as passed to `new HashMap<>(n)`; 16 for `new HashMap<>()`. */
  constructor(initialCapacity = 16) {
    this.capacity = tableSizeFor(initialCapacity);
  }

  /** Guava's Maps.newHashMapWithExpectedSize(n). */
  static withExpectedSize<V>(expected: number): JavaHashMap<V> {
    const capacity = expected < 3 ? expected + 1 : Math.floor(expected / 0.75 + 1);
    return new JavaHashMap<V>(capacity);
  }

  get(key: string): V | undefined {
    if (this.buckets.length === 0) return undefined;
    const hash = spread(javaStringHash(key));
    return this.buckets[hash & (this.capacity - 1)]?.find((e) => e.key === key)?.value;
  }

  set(key: string, value: V): void {
    if (this.buckets.length === 0) this.buckets = Array.from({ length: this.capacity }, () => []);
    const hash = spread(javaStringHash(key));
    const bucket = this.buckets[hash & (this.capacity - 1)] as Array<Entry<V>>;
    const existing = bucket.find((e) => e.key === key);
    if (existing) {
      existing.value = value;
      return;
    }
    bucket.push({ key, hash, value });
    this.count++;
    if (this.count > this.capacity * 0.75) this.resize();
  }

  entries(): Array<[string, V]> {
    return this.buckets.flat().map((e) => [e.key, e.value]);
  }

  private resize(): void {
    const newCapacity = this.capacity * 2;
    const next: Array<Array<Entry<V>>> = Array.from({ length: newCapacity }, () => []);
    for (const bucket of this.buckets) {
      for (const e of bucket) (next[e.hash & (newCapacity - 1)] as Array<Entry<V>>).push(e);
    }
    this.buckets = next;
    this.capacity = newCapacity;
  }
}
