/**
 * org.apache.cassandra.tools.nodetool.formatter.TableBuilder: every cell padded to its column's
 * widest cell (the last column too, hence the trailing spaces), columns joined by a delimiter.
 */
export class TableBuilder {
  private readonly rows: string[][] = [];

  constructor(private readonly delimiter = ' ') {}

  add(...cells: string[]): this {
    this.rows.push(cells);
    return this;
  }

  toString(): string {
    const columns = Math.max(0, ...this.rows.map((r) => r.length));
    const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...this.rows.map((r) => (r[i] ?? '').length)));
    return this.rows.map((row) => widths.map((w, i) => (row[i] ?? '').padEnd(w)).join(this.delimiter) + '\n').join('');
  }
}
