/**
 * A disjoint-set forest over string nodes (union-find with path compression), the grouping core
 * of conversation threading: nodes are messages and msg-ids (see `./link.ts`).
 *
 * Which node ends up as a set's root is an implementation detail: callers must never derive keys
 * or order from roots, only "same set or not" (see {@link groupBy} in `./link.ts`).
 */
export class UnionFind {
  readonly #parent = new Map<string, string>();

  /** True when `x` was added (by {@link add}, {@link find} or {@link union}). */
  has(x: string): boolean {
    return this.#parent.has(x);
  }

  /** Adds `x` as a set of its own unless it is known already. */
  add(x: string): void {
    if (!this.#parent.has(x)) this.#parent.set(x, x);
  }

  /** The root of `x`'s set; an unknown `x` is added first. */
  find(x: string): string {
    this.add(x);
    let root = x;
    for (let up = this.#parent.get(root)!; up !== root; up = this.#parent.get(root)!) root = up;
    // Path compression keeps later lookups flat.
    let node = x;
    while (node !== root) {
      const next = this.#parent.get(node)!;
      this.#parent.set(node, root);
      node = next;
    }
    return root;
  }

  /** Joins the sets of `a` and `b` (each added when unknown). */
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.#parent.set(rb, ra);
  }
}
