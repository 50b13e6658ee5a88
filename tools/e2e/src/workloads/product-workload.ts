// product-api-cache's share of the mixed load: reads of random products, and sequential writes of
// two products, each read back at once through both gateways (so both cache replicas): the last
// acknowledged price must win and must be what the next reads see.
import type { Op } from './load-events';
import { expectStatus } from './load-events';
import type { Workload, WorkloadContext } from './workload';

export interface ProductVerification {
  /** Reads of a product right after its acknowledged write (both gateways, so both caches). */
  productReadbacks: number;
  /** Of those, answered 200 with an older price than the one just acknowledged. */
  productStaleReads: number;
  /** When each stale read was sent. */
  productStaleAt: number[];
  productWritesAcked: number;
  /** Products whose value is neither the last acknowledged write nor a later attempt. */
  productWritesLost: number;
}

interface ProductState {
  id: number;
  body: Record<string, unknown>;
  lastAcked: number | undefined;
  /** Prices sent after the last ack whose outcome is unknown (they may have been applied). */
  unknown: number[];
  nextPrice: number;
  /** Writes to one product are sequential, so the last acknowledged one must win. */
  busy: boolean;
}

interface PriceBody {
  priceCents?: number;
}

export class ProductWorkload implements Workload<ProductVerification> {
  readonly ops: readonly Op[] = ['product.read', 'product.write'];
  private readonly products: ProductState[] = [];
  private readbacks = 0;
  private readonly staleAt: number[] = [];

  constructor(private readonly context: WorkloadContext) {}

  /** Two seeded products to write, picked at random so that two loads do not share them. */
  async setup(): Promise<void> {
    const base = 9000 + Math.floor(Math.random() * 900);
    for (const id of [base, base + 1]) {
      const reply = expectStatus(
        await this.context.client.get(`/api/products/${id}`),
        200,
        'product',
      );
      const { sku, name, description, priceCents, category } = reply.body;
      this.products.push({
        id,
        body: { sku, name, description, category },
        lastAcked: priceCents as number,
        unknown: [],
        nextPrice: 100_000,
        busy: false,
      });
    }
  }

  async step(op: Op, turn: number): Promise<void> {
    if (op === 'product.write') return this.write(this.products[turn % this.products.length]);
    const at = Date.now();
    const id = 1 + Math.floor(Math.random() * 200);
    const { client, events, timeoutMs } = this.context;
    events.record(op, at, await client.get(`/api/products/${id}`, { timeoutMs }), [200]);
  }

  private async write(product: ProductState): Promise<void> {
    if (product.busy) return;
    const { client, events, timeoutMs } = this.context;
    const at = Date.now();
    product.busy = true;
    const price = (product.nextPrice += 1);
    product.unknown.push(price);
    const reply = await client.put(
      `/api/products/${product.id}`,
      { ...product.body, priceCents: price },
      { timeoutMs },
    );
    if (events.record('product.write', at, reply, [200])) {
      product.lastAcked = price;
      product.unknown = [];
      // Read your write: the next reads, whichever gateway and cache replica answer them,
      // must have the price just acknowledged (no other write to this product is in flight).
      for (let i = 0; i < 2; i += 1) {
        const readAt = Date.now();
        const read = await client.get<PriceBody>(`/api/products/${product.id}`, { timeoutMs });
        if (!events.record('product.read', readAt, read, [200])) continue;
        this.readbacks += 1;
        if (read.body.priceCents !== price) this.staleAt.push(readAt);
      }
    } else if (reply.status >= 400 && reply.status < 500) {
      product.unknown = product.unknown.filter((p) => p !== price);
    }
    product.busy = false;
  }

  async verify(): Promise<ProductVerification> {
    let productWritesLost = 0;
    let productWritesAcked = 0;
    for (const product of this.products) {
      const allowed = new Set([product.lastAcked, ...product.unknown]);
      productWritesAcked += product.lastAcked !== undefined ? 1 : 0;
      // Two reads: both gateway replicas, so both replicas of the cache (and their L1) answer.
      for (let i = 0; i < 2; i += 1) {
        const reply = await this.context.client.get<PriceBody>(`/api/products/${product.id}`);
        if (!allowed.has(reply.body.priceCents)) {
          productWritesLost += 1;
          break;
        }
      }
    }
    return {
      productReadbacks: this.readbacks,
      productStaleReads: this.staleAt.length,
      productStaleAt: [...this.staleAt],
      productWritesAcked,
      productWritesLost,
    };
  }
}
