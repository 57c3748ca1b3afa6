import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import type { Logger } from '../logger';
import { resolveName, SERVICE_TTL_SECONDS, upstreamResolvers } from './dns-answer';

export interface DnsServerOptions {
  log: Logger;
  /** The names that resolve to this node right now (read at each query). */
  serviceNames(): ReadonlySet<string>;
  upstreamTimeoutMs?: number;
  resolvConf?: string;
}

/**
 * The node's resolver for its containers: UDP on the engine's bridge
 * gateway, port 53. Service names are answered here (see resolveName);
 * other names are relayed to the resolvers of this node's /etc/resolv.conf.
 */
export class DnsServer {
  private socket: Socket | undefined;
  private upstream: string[] = [];

  constructor(private readonly o: DnsServerOptions) {}

  /** Binds `address`:53; answers why not (another resolver holds it), or null. */
  start(address: string): Promise<string | null> {
    try {
      this.upstream = upstreamResolvers(readFileSync(this.o.resolvConf ?? '/etc/resolv.conf', 'utf8'), address);
    } catch {
      this.upstream = [];
    }
    return new Promise((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', (error: NodeJS.ErrnoException) => {
        socket.close();
        resolve(`cannot serve service names on ${address}:53: ${error.code ?? error.message}`);
      });
      socket.bind(53, address, () => {
        socket.removeAllListeners('error');
        socket.on('error', (error) => this.o.log.warn('service name resolver failed', { error: error.message }));
        socket.on('message', (message, from) => void this.answer(message, from.address, from.port));
        this.socket = socket;
        this.gateway = address;
        resolve(null);
      });
    });
  }

  private gateway = '';

  get address(): string | null {
    return this.socket ? this.gateway : null;
  }

  private async answer(message: Buffer, host: string, port: number): Promise<void> {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return; // not DNS: drop it, as resolvers do
    }
    const question = query.questions?.[0];
    if (!question) return;
    const resolution = resolveName(question.name, question.type, this.o.serviceNames(), this.gateway);
    if (resolution.kind === 'forward') {
      const reply = await this.relay(message);
      this.send(reply ?? respond(query, 'SERVFAIL', []), host, port);
      return;
    }
    const answers: dnsPacket.Answer[] =
      resolution.kind === 'address' ? [{ type: 'A', name: question.name, ttl: SERVICE_TTL_SECONDS, data: resolution.address }] : [];
    this.send(respond(query, resolution.kind === 'nxdomain' ? 'NXDOMAIN' : 'NOERROR', answers), host, port);
  }

  private send(reply: Buffer, host: string, port: number): void {
    this.socket?.send(reply, port, host);
  }

  /** The first upstream resolver's answer to the same query, or null when none answers in time. */
  private async relay(message: Buffer): Promise<Buffer | null> {
    for (const server of this.upstream) {
      const reply = await new Promise<Buffer | null>((resolve) => {
        const socket = createSocket(server.includes(':') ? 'udp6' : 'udp4');
        const timer = setTimeout(() => finish(null), this.o.upstreamTimeoutMs ?? 2000);
        const finish = (value: Buffer | null) => {
          clearTimeout(timer);
          socket.close();
          resolve(value);
        };
        socket.once('error', () => finish(null));
        socket.once('message', (data) => finish(data));
        socket.send(message, 53, server);
      });
      if (reply) return reply;
    }
    return null;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

function respond(query: dnsPacket.Packet, rcode: keyof typeof RCODES, answers: dnsPacket.Answer[]): Buffer {
  // Flags: QR (a response), AA (authoritative for service names), RD copied, RA, and the response code.
  const rd = (query.flags ?? 0) & 0x0100;
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags: 0x8000 | 0x0400 | rd | 0x0080 | RCODES[rcode],
    questions: query.questions ?? [],
    answers,
  });
}
