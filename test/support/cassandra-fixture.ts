/**
 * The data the real-node tests back up and compare, written through
 * cassandra-driver: two keyspaces; a table with a secondary index and a
 * materialized view; counters; rows with a TTL; a table dropped and made
 * again (a new table id, and the old directory left behind by Cassandra).
 */
import type cassandra from 'cassandra-driver';

const SIMPLE = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

/** Makes the schema and the first rows (node started with enable_materialized_views: true). */
export async function createFixture(client: cassandra.Client): Promise<void> {
  for (const cql of [
    `CREATE KEYSPACE shop WITH replication = ${SIMPLE}`,
    `CREATE KEYSPACE metrics WITH replication = ${SIMPLE}`,
    'CREATE TABLE shop.orders (id int PRIMARY KEY, customer text, total int, note text)',
    'CREATE INDEX orders_by_customer ON shop.orders (customer)',
    'CREATE MATERIALIZED VIEW shop.orders_by_total AS SELECT total, id, customer FROM shop.orders WHERE total IS NOT NULL AND id IS NOT NULL PRIMARY KEY (total, id)',
    'CREATE TABLE shop.page_views (page text PRIMARY KEY, views counter)',
    'CREATE TABLE shop.carts (id int PRIMARY KEY, items list<text>)',
    'CREATE TABLE metrics.events (sensor text, ts timestamp, value double, PRIMARY KEY (sensor, ts))',
  ]) {
    await client.execute(cql);
  }
  await writeOrders(client, 0, 400);
  await run(client, 60, (i) => ['UPDATE shop.page_views SET views = views + ? WHERE page = ?', [i + 1, `/page/${i % 12}`]]);
  await run(client, 30, (i) => ['INSERT INTO shop.carts (id, items) VALUES (?, ?)', [i, [`old-${i}`]]]);
  // Dropped and made again: a new table id; the restore must bring the new table's rows only.
  await client.execute('DROP TABLE shop.carts');
  await client.execute('CREATE TABLE shop.carts (id int PRIMARY KEY, owner text, items list<text>)');
  await run(client, 20, (i) => ['INSERT INTO shop.carts (id, owner, items) VALUES (?, ?, ?)', [i, `owner-${i}`, [`item-${i}`, `item-${i + 1}`]]]);
  await writeEvents(client, 0, 200);
}

/** Orders `from`..`from + count - 1`, 15 customers (the index), totals in 50 values (the view). */
export function writeOrders(client: cassandra.Client, from: number, count: number): Promise<void> {
  return run(client, count, (i) => ['INSERT INTO shop.orders (id, customer, total, note) VALUES (?, ?, ?, ?)', [from + i, `customer-${(from + i) % 15}`, (from + i) % 50, `note ${'x'.repeat((from + i) % 200)}`]]);
}

/** Sensor readings that expire in a day. */
export function writeEvents(client: cassandra.Client, from: number, count: number): Promise<void> {
  return run(client, count, (i) => ['INSERT INTO metrics.events (sensor, ts, value) VALUES (?, ?, ?) USING TTL 86400', [`sensor-${(from + i) % 7}`, new Date(1_700_000_000_000 + (from + i) * 1000), (from + i) / 10]]);
}

type Statement = [string, unknown[]];

async function run(client: cassandra.Client, count: number, statement: (i: number) => Statement): Promise<void> {
  const inFlight = 32;
  for (let start = 0; start < count; start += inFlight) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + inFlight); i += 1) {
      const [cql, params] = statement(i);
      batch.push(client.execute(cql, params, { prepare: true }));
    }
    await Promise.all(batch);
  }
}

const TABLES = ['shop.orders', 'shop.orders_by_total', 'shop.page_views', 'shop.carts', 'metrics.events'];

/** Every row of every fixture table (sorted, values as text), what an index query answers, and whether TTLs survived. */
export interface FixtureRows {
  tables: Record<string, string[]>;
  ordersOfCustomer7: number[];
  eventsWithTtl: number;
}

export async function readFixture(client: cassandra.Client): Promise<FixtureRows> {
  const tables: Record<string, string[]> = {};
  for (const table of TABLES) {
    const rows: string[] = [];
    let pageState: string | undefined;
    do {
      const page = await client.execute(`SELECT * FROM ${table}`, [], { fetchSize: 1000, ...(pageState ? { pageState } : {}) });
      rows.push(...page.rows.map(rowText));
      pageState = page.pageState ?? undefined;
    } while (pageState);
    tables[table] = rows.sort();
  }
  const indexed = await client.execute("SELECT id FROM shop.orders WHERE customer = 'customer-7'");
  const ttl = await client.execute('SELECT TTL(value) AS ttl FROM metrics.events');
  return {
    tables,
    ordersOfCustomer7: indexed.rows.map((r) => r.id as number).sort((a, b) => a - b),
    eventsWithTtl: ttl.rows.filter((r) => typeof r.ttl === 'number' && r.ttl > 0).length,
  };
}

function rowText(row: cassandra.types.Row): string {
  const values = row.keys().map((key) => {
    const value: unknown = row.get(key);
    const text = value instanceof Date ? value.toISOString() : Array.isArray(value) ? JSON.stringify(value) : String(value);
    return `${key}=${text}`;
  });
  return values.join(' ');
}
